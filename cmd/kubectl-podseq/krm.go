package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/podseq/podseq/inject"
	"github.com/podseq/podseq/internal/exitcode"
	"github.com/podseq/podseq/internal/version"
	"github.com/podseq/podseq/krmfn"
)

const krmDescription = `Runs inject as a KRM function (kustomize, kpt): reads a ResourceList
(apiVersion config.kubernetes.io/v1) on standard input and writes it to standard output,
its items injected as by inject, its results holding inject's warnings. The
functionConfig gives inject's options; every field is optional:

   apiVersion: podseq.dev/v1alpha1
   kind: Inject
   metadata:
     name: podseq
     annotations:
       config.kubernetes.io/function: |
         exec:
           path: kubectl-podseq
           args: [krm]
   spec:
     after: {app: proxy}            # CONTAINER: DEP[,DEP...] or a list
     ready: {proxy: 'http://localhost:9901/ready'}   # CONTAINER: TARGET[ ...] or a list
     mode: gate                     # gate, native or tombstone
     image: IMAGE                   # default: the image inject writes
     timeout: 2m
     undo: false

   kustomize build --enable-alpha-plugins --enable-exec DIR

Without --enable-exec, kustomize skips the function without a word: nothing is injected.

EXIT CODES:
   0     done: the ResourceList is on standard output (warnings in its results)
   1     the output could not be written
   2     bad input: not a ResourceList (nothing is written), or a bad functionConfig
         or item (the items are written unchanged with one error result); one line on
         standard error says what is wrong`

func krmCommand() *cli.Command {
	return &cli.Command{
		Name:        "krm",
		Usage:       "run inject as a KRM function: a ResourceList on standard input and output (kustomize, kpt)",
		ArgsUsage:   " ",
		Description: krmDescription,
		Action:      krmAction,
	}
}

func krmAction(c *cli.Context) error {
	if c.Args().Present() {
		return cli.Exit("podseq krm: no arguments: the ResourceList comes on standard input", exitcode.Usage)
	}
	out, err := krmfn.Run(c.App.Reader, c.App.Writer, inject.Options{Image: version.DefaultImage()})
	var we *krmfn.WriteError
	switch {
	case errors.As(err, &we):
		return cli.Exit("podseq krm: "+we.Error(), exitcode.InjectFailed)
	case errors.Is(err, krmfn.ErrBadInput):
		return cli.Exit("podseq krm: "+strings.TrimPrefix(err.Error(), krmfn.ErrBadInput.Error()+": "), exitcode.Usage)
	case err != nil:
		return cli.Exit("podseq krm: "+err.Error(), exitcode.InjectFailed)
	}
	for _, w := range out.Warnings {
		fmt.Fprintf(c.App.ErrWriter, "podseq krm: warning: %s\n", w)
	}
	return nil
}
