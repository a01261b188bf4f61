// Package version is the one home of podseq's version and of the image that
// version runs: `podseq --version`, `kubectl-podseq --version` and the image
// `podseq inject` writes by default all come from here.
//
// A build stamps the version with
//
//	-ldflags "-X github.com/podseq/podseq/internal/version.stamped=v1.2.3"
//
// (hack/build.sh does, for `make build`, `make release` and the Dockerfile).
// Without a stamp, the version is the main module's version that `go install
// github.com/podseq/podseq/cmd/...@v1.2.3` records in the binary, and
// otherwise "dev".
//
// A release version is a semantic version with a leading v: vMAJOR.MINOR.PATCH,
// optionally followed by a pre-release (-rc.1). A release build's inject writes
// the released image, ghcr.io/podseq/podseq:<version>. Every other build is a
// dev build: what `git describe` names between tags (v1.2.3-4-gabc1234) or in a
// dirty tree (…-dirty), a Go pseudo-version, and "dev" itself. A dev build's
// inject writes podseq:dev, the image `make image-tar` builds and loads into a
// local cluster, because an image for a commit between releases is on no
// registry.
package version

import (
	"regexp"
	"runtime/debug"
)

const (
	// Repository is where release images are published.
	Repository = "ghcr.io/podseq/podseq"
	// DevImage is the image of a dev build: the one `make image-tar` and
	// `make image` build, loaded into a cluster by hand, on no registry.
	DevImage = "podseq:dev"
	// Dev is the version of a build that carries none.
	Dev = "dev"
)

// stamped is set at link time (-X); empty when the build did not set it.
var stamped string

// semver matches a semantic version 2.0.0 with a leading v and without
// build metadata (a + cannot be in an image tag).
var semver = regexp.MustCompile(`^v(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)` +
	`(-(0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*)(\.(0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*))*)?$`)

// between matches the suffixes of builds that are not a release even when the
// rest is semver: git describe's -N-gHASH after a tag, -dirty, and Go's
// pseudo-versions (-0.20260102150405-abcdef123456 and -20260102150405-abcdef123456).
var between = regexp.MustCompile(`-[0-9]+-g[0-9a-f]{4,}(-dirty)?$|-dirty$|(^|[-.])[0-9]{14}-[0-9a-f]{12}$`)

// IsRelease reports whether v is a release version: vX.Y.Z, optionally with a
// pre-release, and not a git describe or Go pseudo-version of a commit
// between releases.
func IsRelease(v string) bool {
	return semver.MatchString(v) && !between.MatchString(v)
}

// IsSemver reports whether v is a semantic version with a leading v
// (vX.Y.Z[-PRERELEASE]), the form every release tag takes.
func IsSemver(v string) bool {
	return semver.MatchString(v)
}

// String returns this build's version: the stamped one, else the module
// version `go install …@vX.Y.Z` recorded, else "dev".
func String() string {
	if stamped != "" {
		return stamped
	}
	if bi, ok := debug.ReadBuildInfo(); ok && IsRelease(bi.Main.Version) {
		return bi.Main.Version
	}
	return Dev
}

// Image returns the podseq image of version v: the released image for a
// release version, DevImage otherwise.
func Image(v string) string {
	if IsRelease(v) {
		return Repository + ":" + v
	}
	return DevImage
}

// DefaultImage is the image this build's inject writes by default.
func DefaultImage() string {
	return Image(String())
}

// ExampleImage is the image help texts show in examples people copy: this
// release's image, or in a dev build the release image with a placeholder
// tag, ghcr.io/podseq/podseq:vX.Y.Z (podseq:dev is on no registry).
func ExampleImage() string {
	if v := String(); IsRelease(v) {
		return Image(v)
	}
	return Repository + ":vX.Y.Z"
}

// ImageReason says, for help texts, why DefaultImage is what it is.
func ImageReason() string {
	v := String()
	if IsRelease(v) {
		return "the image of this release, " + v
	}
	return "this dev build (" + v + ") writes " + DevImage + ", the image make image-tar builds for a local cluster " +
		"and on no registry; a release build writes " + Repository + ":<its version>"
}
