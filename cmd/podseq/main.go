// Command podseq puts the containers of a Kubernetes pod in order.
//
// See `podseq --help` and README.md.
package main

import "os"

func main() {
	os.Exit(run(os.Args, os.Stdout, os.Stderr))
}
