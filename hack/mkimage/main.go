// Command mkimage builds a container image without Docker: one layer made of
// the files it is given, a config (entrypoint, cmd, user, env, architecture),
// written as a docker-archive tarball that `docker load`, `ctr images import`,
// `minikube image load` and `kind load image-archive` accept, or as an OCI
// image layout holding an index of several architectures, which `crane push
// DIR REF` publishes as one multi-platform image.
//
// Usage:
//
//	go run ./mkimage -o OUT.tar -tag REF [-arch amd64|arm64] [-entrypoint /x]
//	    [-cmd a,b] [-user 65532:65532] [-env K=V]... [-label K=V]...
//	    [-rootfs DIR]... [-file SRC:DST[:MODE]]...
//	go run ./mkimage -oci DIR -arch amd64,arm64 -file bin/linux-{arch}/x:/x ...
//
// Every file in the layer is owned by 0:0 and stamped with SOURCE_DATE_EPOCH
// (0 when unset), so the same inputs give the same image digest. -rootfs adds a
// directory tree (regular files, directories, symlinks, hard links), as a
// busybox rootfs needs; -file adds one file, with MODE (octal) or the source's
// permissions, and wins over a -rootfs entry at the same path. Parent
// directories are added as 0755.
//
// Exit codes: 0 written, 1 an input could not be read or the output written,
// 2 a malformed flag.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
)

// exit codes of mkimage.
const (
	exitOK    = 0
	exitIO    = 1
	exitUsage = 2
)

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

// run parses args, builds the image and returns the exit code; every error is
// one line on stderr.
func run(args []string, stderr io.Writer) int {
	spec, err := parseArgs(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "mkimage: %v\n", err)
		return exitUsage
	}
	if err := build(spec); err != nil {
		fmt.Fprintf(stderr, "mkimage: %v\n", err)
		var u usageErr
		if errors.As(err, &u) {
			return exitUsage
		}
		return exitIO
	}
	return exitOK
}

// usageErr marks an error found while building that is the caller's input,
// not I/O (an entrypoint built for the wrong architecture).
type usageErr struct{ error }

func (u usageErr) Unwrap() error { return u.error }

// multiFlag is a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, " ") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// parseArgs reads the command line into a Spec.
func parseArgs(args []string, stderr io.Writer) (Spec, error) {
	var s Spec
	var cmd, envs, rootfs, files, labels multiFlag
	var cmdSet bool
	fs := flag.NewFlagSet("mkimage", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported once, as one line, by run
	fs.StringVar(&s.Out, "o", "", "output `FILE` (docker-archive tarball of one architecture); this or -oci is required")
	fs.StringVar(&s.OCI, "oci", "", "output `DIR`, an OCI image layout whose index holds one image per -arch")
	fs.StringVar(&s.Tag, "tag", "", "image `REF` recorded in the tarball, such as podseq:dev; required with -o")
	arch := fs.String("arch", defaultArch(), "image architecture, amd64 or arm64 (with -oci, a comma-separated `LIST`): by default this machine's")
	fs.Var(&labels, "label", "config label `K=V` (repeatable), such as org.opencontainers.image.version=v1.2.3")
	entrypoint := fs.String("entrypoint", "", "entrypoint `PATH` (exec form, one element)")
	fs.Func("cmd", "default arguments `A,B,...`, comma-separated", func(v string) error {
		cmdSet = true
		if v != "" {
			cmd = strings.Split(v, ",")
		}
		return nil
	})
	fs.StringVar(&s.User, "user", "", "user to run as, `UID[:GID]` (default: the runtime's, root)")
	fs.Var(&envs, "env", "environment variable `K=V` (repeatable); PATH defaults to Docker's")
	fs.Var(&rootfs, "rootfs", "directory `DIR` whose tree becomes the image's / (repeatable)")
	fs.Var(&files, "file", "add file `SRC:DST[:MODE]` (repeatable); MODE is octal, default SRC's; {arch} in SRC is each image's architecture")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stderr, "usage: mkimage -o OUT.tar -tag REF [flags]")
			fs.SetOutput(stderr)
			fs.PrintDefaults()
			return s, err
		}
		return s, fmt.Errorf("%v (see -h)", firstLine(err.Error()))
	}
	switch {
	case fs.NArg() > 0:
		return s, fmt.Errorf("unexpected argument %q: everything is a flag (see -h)", fs.Arg(0))
	case s.Out == "" && s.OCI == "":
		return s, errors.New("-o OUT.tar is required (or -oci DIR)")
	case s.Out != "" && s.OCI != "":
		return s, errors.New("-o and -oci: give one output")
	case s.Out != "" && s.Tag == "":
		return s, errors.New("-tag REF is required (such as podseq:dev)")
	case s.OCI != "" && s.Tag != "":
		return s, errors.New("-tag is for -o: an OCI layout is named when it is pushed (crane push DIR REF)")
	}
	for _, a := range strings.Split(*arch, ",") {
		if _, ok := archs[a]; !ok {
			return s, fmt.Errorf("-arch %q: want amd64 or arm64", a)
		}
		if slices.Contains(s.Archs, a) {
			return s, fmt.Errorf("-arch %q: %s twice", *arch, a)
		}
		s.Archs = append(s.Archs, a)
	}
	if s.Out != "" && len(s.Archs) != 1 {
		return s, fmt.Errorf("-arch %q: a tarball holds one architecture (several go in -oci DIR)", *arch)
	}
	for _, l := range labels {
		k, _, ok := strings.Cut(l, "=")
		if !ok || k == "" {
			return s, fmt.Errorf("-label %q: want K=V", l)
		}
		s.Labels = append(s.Labels, l)
	}
	if *entrypoint != "" {
		s.Entrypoint = []string{*entrypoint}
	}
	if cmdSet {
		s.Cmd = append([]string{}, cmd...)
	}
	if s.User != "" && strings.ContainsAny(s.User, " \t\n") {
		return s, fmt.Errorf("-user %q: want UID[:GID] or NAME[:GROUP]", s.User)
	}
	for _, e := range envs {
		k, _, ok := strings.Cut(e, "=")
		if !ok || k == "" {
			return s, fmt.Errorf("-env %q: want K=V", e)
		}
		s.Env = append(s.Env, e)
	}
	s.Rootfs = rootfs
	for _, f := range files {
		fe, err := parseFileSpec(f)
		if err != nil {
			return s, err
		}
		s.Files = append(s.Files, fe)
	}
	return s, nil
}

// defaultArch is this machine's architecture when mkimage supports it.
func defaultArch() string {
	if _, ok := archs[runtime.GOARCH]; ok {
		return runtime.GOARCH
	}
	return "amd64"
}

// firstLine returns the first line of s.
func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
