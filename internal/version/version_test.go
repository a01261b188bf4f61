package version

import (
	"strings"
	"testing"
)

func TestIsRelease(t *testing.T) {
	for v, want := range map[string]bool{
		"v0.1.0":                               true,
		"v1.22.333":                            true,
		"v0.2.0-rc.1":                          true,
		"v1.0.0-alpha.beta-2":                  true,
		"dev":                                  false,
		"":                                     false,
		"0.1.0":                                false,
		"v0.1":                                 false,
		"v01.1.0":                              false,
		"v0.1.0+build.5":                       false,
		"v0.1.0-01":                            false,
		"v0.1.0-":                              false,
		"v0.1.0-3-gabc1234":                    false,
		"v0.1.0-3-gabc1234-dirty":              false,
		"v0.1.0-dirty":                         false,
		"v0.1.1-0.20260102150405-abcdef123456": false,
		"v0.0.0-20260102150405-abcdef123456":   false,
		"v0.2.0-rc.1.0.20260102150405-abcdef123456": false,
		"abc1234":  false,
		"v0.1.0\n": false,
	} {
		if got := IsRelease(v); got != want {
			t.Errorf("IsRelease(%q) = %v, want %v", v, got, want)
		}
	}
	if !IsSemver("v0.1.0-3-gabc1234") || IsSemver("dev") {
		t.Error("IsSemver: a git describe form is semver, dev is not")
	}
}

func TestImage(t *testing.T) {
	for v, want := range map[string]string{
		"v0.1.0":            "ghcr.io/podseq/podseq:v0.1.0",
		"v0.2.0-rc.1":       "ghcr.io/podseq/podseq:v0.2.0-rc.1",
		"dev":               "podseq:dev",
		"v0.1.0-3-gabc1234": "podseq:dev",
		"9f1e6e7":           "podseq:dev",
	} {
		if got := Image(v); got != want {
			t.Errorf("Image(%q) = %q, want %q", v, got, want)
		}
	}
}

// A test binary carries no stamp and no module version: a dev build.
func TestUnstamped(t *testing.T) {
	if got := String(); got != Dev {
		t.Errorf("String() = %q, want %q", got, Dev)
	}
	if got := DefaultImage(); got != DevImage {
		t.Errorf("DefaultImage() = %q, want %q", got, DevImage)
	}
	if r := ImageReason(); !strings.Contains(r, "dev build") || !strings.Contains(r, Repository) {
		t.Errorf("ImageReason() = %q", r)
	}
}

// A dev build's help examples name the release image with a placeholder tag.
func TestExampleImage(t *testing.T) {
	if got := ExampleImage(); got != "ghcr.io/podseq/podseq:vX.Y.Z" {
		t.Errorf("ExampleImage() = %q", got)
	}
}
