package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/podseq/podseq/internal/version"
)

// gitRepo makes a repository with one commit of files (path -> content;
// hack/build.sh executable).
func gitRepo(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for p, content := range files {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, args := range [][]string{
		{"init", "-q"}, {"add", "."},
		{"-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "x"},
	} {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	return dir
}

const changelog = "# Changelog\n\n## [Unreleased]\n\n## [v0.1.0] - 2026-12-07\n\n### Added\n\n- all\n\n[v0.1.0]: https://example.com\n"

// runRelease runs the release in-process and returns its exit code and
// stderr.
func runRelease(args ...string) (int, string) {
	var stdout, stderr bytes.Buffer
	code := run(args, &stdout, &stderr)
	return code, stderr.String()
}

// TestBadInput: a version that is no release, a dirty work tree, a
// changelog without the version and a bad SOURCE_DATE_EPOCH each stop the
// release with one line and exit 2, before anything is built: an existing
// dist is left as it was.
func TestBadInput(t *testing.T) {
	clean := gitRepo(t, map[string]string{"CHANGELOG.md": changelog, "LICENSE": "l", "README.md": "r"})
	noSection := gitRepo(t, map[string]string{"CHANGELOG.md": "# Changelog\n\n## [v0.0.9]\n\n- old\n"})
	dirty := gitRepo(t, map[string]string{"CHANGELOG.md": changelog})
	if err := os.WriteFile(filepath.Join(dirty, "new.go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	notRepo := t.TempDir()
	dist := filepath.Join(t.TempDir(), "dist")
	if err := os.MkdirAll(dist, 0o755); err != nil {
		t.Fatal(err)
	}
	marker := filepath.Join(dist, "earlier-release.txt")
	if err := os.WriteFile(marker, []byte("kept"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, repo, version, epoch, want string
	}{
		{"empty version", clean, "", "", "VERSION is empty"},
		{"no v", clean, "0.1.0", "", `VERSION "0.1.0" is not a semantic version`},
		{"two numbers", clean, "v0.1", "", `VERSION "v0.1" is not a semantic version`},
		{"build metadata", clean, "v0.1.0+meta", "", "is not a semantic version"},
		{"dev", clean, "dev", "", "is not a semantic version"},
		{"git describe", clean, "v0.1.0-3-gabc1234", "", "names a commit between releases"},
		{"dirty describe", clean, "v0.1.0-dirty", "", "names a commit between releases"},
		{"dirty tree", dirty, "v0.1.0", "", "the work tree has uncommitted changes (1 paths, first \"?? new.go\")"},
		{"not a repository", notRepo, "v0.1.0", "", "is not a git work tree"},
		{"no changelog section", noSection, "v0.1.0", "", `CHANGELOG.md has no section "## [v0.1.0]"`},
		{"bad epoch", clean, "v0.1.0", "yesterday", `SOURCE_DATE_EPOCH "yesterday"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("SOURCE_DATE_EPOCH", c.epoch)
			code, stderr := runRelease("-version", c.version, "-repo", c.repo, "-dist", dist)
			if code != exitUsage || !strings.Contains(stderr, c.want) || strings.Count(stderr, "\n") != 1 || !strings.HasPrefix(stderr, "release: ") {
				t.Errorf("exit %d, stderr %q; want exit 2 and one line holding %q", code, stderr, c.want)
			}
		})
	}
	entries, err := os.ReadDir(dist)
	if err != nil || len(entries) != 1 {
		t.Errorf("dist after bad input: %v, %v; want only the earlier release's file", entries, err)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(dist), ".dist-*")); len(leftovers) > 0 {
		t.Errorf("left behind: %q", leftovers)
	}
	code, stderr := runRelease("-version", "v0.1.0", "extra")
	if code != exitUsage || !strings.Contains(stderr, `unexpected argument "extra"`) {
		t.Errorf("a positional argument: exit %d %q", code, stderr)
	}
}

// TestFailedBuildLeavesDist: a build that fails halfway (the second binary)
// exits 1 with one line naming it, leaves an existing dist as it was, and
// leaves no staging directory behind.
func TestFailedBuildLeavesDist(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "1700000000")
	repo := gitRepo(t, map[string]string{
		"CHANGELOG.md": changelog, "LICENSE": "l", "README.md": "r",
		// Builds podseq for linux/amd64 (the first target), then fails.
		"hack/build.sh": "#!/bin/sh\nset -eu\nif [ \"$GOARCH\" = arm64 ]; then echo 'compile error' >&2; exit 1; fi\nmkdir -p \"$(dirname \"$OUT\")\"\necho bin > \"$OUT\"\n",
	})
	parent := t.TempDir()
	dist := filepath.Join(parent, "dist")
	if err := os.MkdirAll(dist, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dist, "earlier-release.txt"), []byte("kept"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stderr := runRelease("-version", "v0.1.0", "-repo", repo, "-dist", dist)
	if code != exitFailed || !strings.Contains(stderr, "build podseq for linux/arm64") || !strings.Contains(stderr, "compile error") || strings.Count(stderr, "\n") != 1 {
		t.Errorf("exit %d, stderr %q; want exit 1 and one line naming the failed build", code, stderr)
	}
	entries, err := os.ReadDir(parent)
	if err != nil || len(entries) != 1 || entries[0].Name() != "dist" {
		t.Errorf("beside dist: %v, %v; want dist alone", entries, err)
	}
	entries, err = os.ReadDir(dist)
	if err != nil || len(entries) != 1 {
		t.Errorf("dist: %v, %v; want the earlier release's file alone", entries, err)
	}
}

// TestMakeRelease: `make release` with a version that is not semver stops
// with the release's one line (make adds its own) and leaves dist/ as it was.
func TestMakeRelease(t *testing.T) {
	before, _ := os.ReadDir(filepath.Join(repoRoot, "dist"))
	cmd := exec.Command("make", "--no-print-directory", "-s", "release", "VERSION=1.2")
	cmd.Dir = repoRoot
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	if err == nil || lines[0] != `release: VERSION "1.2" is not a semantic version vX.Y.Z[-PRERELEASE] (such as v0.1.0 or v0.2.0-rc.1)` {
		t.Errorf("make release VERSION=1.2: %v, stderr %q", err, stderr.String())
	}
	after, _ := os.ReadDir(filepath.Join(repoRoot, "dist"))
	if len(after) != len(before) {
		t.Errorf("make release VERSION=1.2 changed dist/: %d entries, then %d", len(before), len(after))
	}
}

// TestWorkflowImage: the release workflow pushes the image every release
// binary writes.
func TestWorkflowImage(t *testing.T) {
	wf := string(readFile(t, filepath.Join(repoRoot, ".github", "workflows", "release.yml")))
	m := regexp.MustCompile(`(?m)^\s+IMAGE: (\S+)$`).FindStringSubmatch(wf)
	if m == nil || m[1] != version.Repository {
		t.Errorf("release.yml: IMAGE %q, want %s (internal/version.Repository)", m, version.Repository)
	}
	for _, want := range []string{"tags: [\"v*\"]", "make release VERSION=", "crane push dist/image", "cosign sign --yes", "cosign sign-blob", "cosign attest", "gh release create", "--notes-file dist/release-notes.md"} {
		if !strings.Contains(wf, want) {
			t.Errorf("release.yml has no %q", want)
		}
	}
	ci := string(readFile(t, filepath.Join(repoRoot, ".github", "workflows", "ci.yml")))
	readme := string(readFile(t, filepath.Join(repoRoot, "README.md")))
	if !strings.Contains(readme, "make test") || !strings.Contains(ci, "run: make test") || !strings.Contains(ci, "pull_request") {
		t.Error("ci.yml does not run the README's test command, make test, on pushes and pull requests")
	}
}
