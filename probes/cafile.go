package probes

// CheckCAFile checks a CA bundle as Options.CAFile is read: a readable PEM
// file with at least one certificate. A command line checks it once, so that
// a bad file is reported as the flag's fault, not as a target's.
func CheckCAFile(path string) error {
	_, err := tlsConfig(&Options{CAFile: path})
	return err
}
