package main

import "github.com/urfave/cli/v2"

// installCommand is `podseq install DIR`: written by the shipping work (issue 4).
func installCommand() *cli.Command {
	return &cli.Command{Name: "install", Usage: "copy podseq into a directory (work in progress)",
		Action: func(c *cli.Context) error { return usagef(c, "not built yet") }}
}
