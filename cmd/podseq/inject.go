package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"

	"github.com/urfave/cli/v2"
)

// injectBinary is the command that implements podseq inject. It is built
// apart (make build) so that this binary, copied into every pod, stays small.
const injectBinary = "kubectl-podseq"

func injectCommand() *cli.Command {
	return &cli.Command{
		Name:            "inject",
		Usage:           "add podseq to existing workloads from their annotations (runs " + injectBinary + ")",
		SkipFlagParsing: true,
		Action:          injectAction,
	}
}

// injectAction replaces podseq by kubectl-podseq inject, found next to this
// executable or on $PATH.
func injectAction(c *cli.Context) error {
	bin, err := findInject()
	if err != nil {
		return usagef(c, "%v", err)
	}
	// SkipFlagParsing: the arguments are all there, "--" and what follows too.
	args := append([]string{injectBinary, "inject"}, c.Args().Slice()...)
	if err := syscall.Exec(bin, args, os.Environ()); err != nil {
		return cli.Exit(fmt.Sprintf("podseq inject: run %s: %v", bin, err), exitCannotExec)
	}
	return nil
}

func findInject() (string, error) {
	if self, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(self), injectBinary)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p, nil
		}
	}
	p, err := exec.LookPath(injectBinary)
	if errors.Is(err, exec.ErrNotFound) {
		return "", fmt.Errorf("inject is the command %s, which is neither next to podseq nor on $PATH: install it beside podseq (make build builds bin/%s)", injectBinary, injectBinary)
	}
	return p, err
}
