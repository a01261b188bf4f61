package main

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// manifest returns the pod spec in manifests/rel (a file, or the first
// pod-bearing object of a directory's *.yaml) and names the file in the
// scenario's figures. Scenarios run what users apply: there is no copy here.
func (t *T) manifest(rel string) (*corev1.PodSpec, error) {
	spec, file, err := t.LoadPodSpec(rel, "")
	if err != nil {
		return nil, err
	}
	t.Figure("pod", "manifests/%s", file)
	return spec, nil
}

// setFlag sets --name=value in argv: it replaces an existing --name=x or
// "--name x", or inserts it right after the subcommand (argv[i] == sub).
func setFlag(argv []string, sub, name, value string) ([]string, error) {
	flag := "--" + name
	out := append([]string(nil), argv...)
	for i, a := range out {
		if a == "--" {
			break
		}
		if strings.HasPrefix(a, flag+"=") {
			out[i] = flag + "=" + value
			return out, nil
		}
		if a == flag && i+1 < len(out) {
			out[i+1] = value
			return out, nil
		}
	}
	for i, a := range out {
		if a == sub {
			return append(out[:i+1], append([]string{flag + "=" + value}, out[i+1:]...)...), nil
		}
	}
	return nil, fmt.Errorf("no %q subcommand in %q", sub, argv)
}

// setBoolFlag adds --name after the subcommand unless present.
func setBoolFlag(argv []string, sub, name string) ([]string, error) {
	for _, a := range argv {
		if a == "--"+name || strings.HasPrefix(a, "--"+name+"=") {
			return argv, nil
		}
	}
	for i, a := range argv {
		if a == sub {
			out := append([]string(nil), argv[:i+1]...)
			out = append(out, "--"+name)
			return append(out, argv[i+1:]...), nil
		}
	}
	return nil, fmt.Errorf("no %q subcommand in %q", sub, argv)
}

// mainArgv returns a pointer to the slice holding the podseq subcommand of a
// container: Args when the image's entrypoint runs podseq, else Command.
func mainArgv(c *corev1.Container) *[]string {
	if len(c.Command) == 0 {
		return &c.Args
	}
	return &c.Command
}

// hookArgv returns the postStart exec command of c, or nil.
func hookArgv(c *corev1.Container) *[]string {
	if c.Lifecycle == nil || c.Lifecycle.PostStart == nil || c.Lifecycle.PostStart.Exec == nil {
		return nil
	}
	return &c.Lifecycle.PostStart.Exec.Command
}
