package main

import (
	"github.com/urfave/cli/v2"

	"github.com/podseq/podseq/entrypoint"
)

// depsFlags are the flags of podseq run's birth and death dependencies. The
// ordering work (tombstones) fills it in.
func depsFlags() []cli.Flag { return nil }

// applyDeps sets the birth and death dependencies of cfg (BeforeStart,
// OnEvent, Stop, BeforeForward) from depsFlags. The ordering work (tombstones)
// fills it in; an error is a usage error.
func applyDeps(c *cli.Context, cfg *entrypoint.Config) error { return nil }
