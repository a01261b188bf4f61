package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/podseq/podseq/internal/exitcode"
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
func injectAction(c *cli.Context) error { return execInjectBinary(c, "inject") }

// execInjectBinary replaces podseq by kubectl-podseq COMMAND with the
// command's arguments.
func execInjectBinary(c *cli.Context, command string) error {
	bin, err := findInject(command)
	if err != nil {
		return usagef(c, "%v", err)
	}
	// SkipFlagParsing: the arguments are all there, "--" and what follows too.
	args := append([]string{injectBinary, command}, c.Args().Slice()...)
	if err := syscall.Exec(bin, args, os.Environ()); err != nil {
		return cli.Exit(fmt.Sprintf("podseq %s: run %s: %v", command, bin, err), exitcode.CannotExec)
	}
	return nil
}

func findInject(command string) (string, error) {
	if self, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(self), injectBinary)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p, nil
		}
	}
	p, err := exec.LookPath(injectBinary)
	if errors.Is(err, exec.ErrNotFound) {
		return "", fmt.Errorf("%s is the command %s, which is neither next to podseq nor on $PATH: install it beside podseq (make build builds bin/%s)", command, injectBinary, injectBinary)
	}
	return p, err
}
