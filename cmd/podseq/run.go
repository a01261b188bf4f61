package main

import "github.com/urfave/cli/v2"

// runCommand is `podseq run`: written by the entrypoint work (issue 3).
func runCommand() *cli.Command {
	return &cli.Command{Name: "run", Usage: "supervise a sidecar and serve its readiness (work in progress)",
		Action: func(c *cli.Context) error { return usagef(c, "not built yet") }}
}
