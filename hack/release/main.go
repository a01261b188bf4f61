// Command release builds every artifact of a podseq release into one
// directory (`make release VERSION=vX.Y.Z` writes dist/), with no Docker, no
// registry and no network beyond the Go module proxy:
//
//   - the binaries of every platform in targets(), through hack/build.sh, each
//     in an archive (.tar.gz, .zip for windows) with LICENSE and README.md;
//   - every directory of extraDirs() that exists, as an archive of its own;
//   - image/: an OCI image layout, one index of linux/amd64 and linux/arm64,
//     made by hack/image-tar.sh from the same linux binaries
//     (`crane push dist/image REF` publishes it);
//   - an SBOM per binary (CycloneDX JSON, by cyclonedx-gomod, a tool of this
//     module), beside its archive;
//   - krew/podseq.yaml: the krew plugin manifest, every platform's archive URL
//     and sha256;
//   - manifests/podseq-DIR.yaml: every example of manifests/ built by
//     kustomize with the released image pinned by digest;
//   - release-notes.md: the version's section of CHANGELOG.md;
//   - checksums.txt: sha256sum's format, covering every other file.
//
// The same commit and SOURCE_DATE_EPOCH (default: the commit's time) give
// byte-identical files: archives hold fixed times, owners and order, the
// binaries are built -trimpath with no build id, the SBOMs carry no time and a
// serial number derived from what they describe.
//
// Usage (from hack/release):
//
//	go run . -version v1.2.3 [-repo ../..] [-dist ../../dist] [-allow-dirty]
//
// A version that is not a release (vX.Y.Z[-PRERELEASE]), a work tree with
// uncommitted changes (unless -allow-dirty, for tests), a CHANGELOG.md without
// the version's section or a bad SOURCE_DATE_EPOCH stop it with one line and
// exit 2 before anything is built. Everything is made in a directory beside the
// output and renamed into place at the end, so a failed run leaves the output
// as it was. Exit codes: 0 built, 1 a build step failed, 2 bad input.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// Exit codes.
const (
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run parses args, makes the release and returns the exit code; every error
// is one line on stderr.
func run(args []string, stdout, stderr io.Writer) int {
	var o options
	fs := flag.NewFlagSet("release", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&o.Version, "version", "", "the release `VERSION`, vX.Y.Z[-PRERELEASE]; required")
	fs.StringVar(&o.Repo, "repo", "../..", "the repository's root `DIR`")
	fs.StringVar(&o.Dist, "dist", "", "the output `DIR` (default: REPO/dist)")
	fs.BoolVar(&o.AllowDirty, "allow-dirty", false, "build from a work tree with uncommitted changes (tests)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stderr, "usage: release -version vX.Y.Z [flags]")
			fs.SetOutput(stderr)
			fs.PrintDefaults()
			return exitOK
		}
		msg, _, _ := strings.Cut(err.Error(), "\n")
		fmt.Fprintf(stderr, "release: %s (see -h)\n", msg)
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "release: unexpected argument %q: everything is a flag (see -h)\n", fs.Arg(0))
		return exitUsage
	}
	r, err := prepare(o)
	if err == nil {
		err = r.build(stdout)
	}
	if err != nil {
		fmt.Fprintf(stderr, "release: %s\n", oneLine(err.Error()))
		if errors.As(err, new(*inputError)) {
			return exitUsage
		}
		return exitFailed
	}
	return exitOK
}

// inputError is bad input: a version, a dirty tree, a changelog without the
// version, an epoch (exit 2).
type inputError struct{ msg string }

func (e *inputError) Error() string { return e.msg }

func badInput(format string, a ...any) error {
	return &inputError{fmt.Sprintf(format, a...)}
}

// oneLine joins the lines of a message, so that every error is one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ")), " ")
}
