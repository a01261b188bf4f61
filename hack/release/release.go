package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/layout"

	"github.com/podseq/podseq/internal/version"
)

// Where a release is published. One home for each: the image repository is
// internal/version's, which the binaries write by default.
const (
	// sourceURL is the repository, as the image's source label and krew's
	// homepage say it.
	sourceURL = "https://github.com/podseq/podseq"
	// downloadURL is where the release's files are, followed by /VERSION/FILE.
	downloadURL = sourceURL + "/releases/download"
)

// target is one binary of one platform.
type target struct {
	Name string // the command: podseq, kubectl-podseq
	Pkg  string // its package, for hack/build.sh
	OS   string
	Arch string
}

// exe is the binary's file name on its platform.
func (t target) exe() string {
	if t.OS == "windows" {
		return t.Name + ".exe"
	}
	return t.Name
}

// archive is the file name of the target's archive for version v.
func (t target) archive(v string) string {
	ext := ".tar.gz"
	if t.OS == "windows" {
		ext = ".zip"
	}
	return fmt.Sprintf("%s_%s_%s_%s%s", t.Name, v, t.OS, t.Arch, ext)
}

// sbom is the file name of the target's SBOM for version v.
func (t target) sbom(v string) string {
	return fmt.Sprintf("%s_%s_%s_%s.cdx.json", t.Name, v, t.OS, t.Arch)
}

// targets are the binaries a release ships. podseq runs in pods (linux);
// kubectl-podseq (inject, the kubectl plugin) runs where people work. A new
// platform or command is one line here; the krew manifest lists every
// kubectl-podseq target.
func targets() []target {
	const podseq, plugin = "podseq", "kubectl-podseq"
	return []target{
		{podseq, "./cmd/podseq", "linux", "amd64"},
		{podseq, "./cmd/podseq", "linux", "arm64"},
		{plugin, "./cmd/kubectl-podseq", "linux", "amd64"},
		{plugin, "./cmd/kubectl-podseq", "linux", "arm64"},
		{plugin, "./cmd/kubectl-podseq", "darwin", "amd64"},
		{plugin, "./cmd/kubectl-podseq", "darwin", "arm64"},
		{plugin, "./cmd/kubectl-podseq", "windows", "amd64"},
	}
}

// imageArchs are the platforms of the image (linux), built from the linux
// targets of both commands.
func imageArchs() []string { return []string{"amd64", "arm64"} }

// extraDir is a directory of the repository shipped as an archive of its
// own, NAME_VERSION.tar.gz, holding the directory's files and LICENSE.
type extraDir struct {
	Dir  string // relative to the repository's root
	Name string // the archive's name before _VERSION.tar.gz
}

// extraDirs are the directories a release ships as archives when they
// exist; one that does not is reported and skipped. A new one is one line
// here.
func extraDirs() []extraDir {
	return []extraDir{
		{Dir: "integrations/helm", Name: "podseq-helm-plugin"},
	}
}

// options are the command line's.
type options struct {
	Version    string
	Repo       string
	Dist       string
	AllowDirty bool
}

// release is a release being made.
type release struct {
	options
	revision string    // the commit
	epoch    time.Time // every file's time
	notes    string    // the version's CHANGELOG.md section
}

// prepare checks the input and the work tree, before anything is built.
func prepare(o options) (*release, error) {
	if o.Version == "" {
		return nil, badInput("VERSION is empty: make release VERSION=vX.Y.Z")
	}
	if !version.IsSemver(o.Version) {
		return nil, badInput("VERSION %q is not a semantic version vX.Y.Z[-PRERELEASE] (such as v0.1.0 or v0.2.0-rc.1)", o.Version)
	}
	if !version.IsRelease(o.Version) {
		return nil, badInput("VERSION %q names a commit between releases (git describe or Go pseudo-version), not a release vX.Y.Z[-PRERELEASE]", o.Version)
	}
	repo, err := filepath.Abs(o.Repo)
	if err != nil {
		return nil, badInput("-repo %s: %v", o.Repo, err)
	}
	o.Repo = repo
	if o.Dist == "" {
		o.Dist = filepath.Join(repo, "dist")
	}
	if o.Dist, err = filepath.Abs(o.Dist); err != nil {
		return nil, badInput("-dist %s: %v", o.Dist, err)
	}
	r := &release{options: o}
	status, err := git(repo, "status", "--porcelain", "--untracked-files=normal")
	if err != nil {
		return nil, badInput("%s is not a git work tree: %v", repo, err)
	}
	if status != "" && !o.AllowDirty {
		lines := strings.Split(status, "\n")
		return nil, badInput("the work tree has uncommitted changes (%d paths, first %q): a release is built from a commit; commit or stash them",
			len(lines), strings.TrimSpace(lines[0]))
	}
	if r.revision, err = git(repo, "rev-parse", "HEAD"); err != nil {
		return nil, badInput("git rev-parse HEAD: %v", err)
	}
	if r.epoch, err = sourceDateEpoch(repo); err != nil {
		return nil, err
	}
	changelog, err := os.ReadFile(filepath.Join(repo, "CHANGELOG.md"))
	if err != nil {
		return nil, badInput("read CHANGELOG.md: %v", err)
	}
	if r.notes, err = changelogSection(string(changelog), o.Version); err != nil {
		return nil, err
	}
	return r, nil
}

// sourceDateEpoch is SOURCE_DATE_EPOCH, or else the commit's time.
func sourceDateEpoch(repo string) (time.Time, error) {
	v := os.Getenv("SOURCE_DATE_EPOCH")
	if v == "" {
		out, err := git(repo, "log", "-1", "--format=%ct")
		if err != nil {
			return time.Time{}, badInput("the commit's time: %v", err)
		}
		v = out
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return time.Time{}, badInput("SOURCE_DATE_EPOCH %q: want seconds since 1970", v)
	}
	return time.Unix(n, 0).UTC(), nil
}

// linkReference matches a Markdown link reference definition, [v0.1.0]: URL.
var linkReference = regexp.MustCompile(`^\[[^\]]+\]:\s`)

// changelogSection returns the body of CHANGELOG.md's "## [VERSION]" section.
func changelogSection(changelog, v string) (string, error) {
	var body []string
	in := false
	for _, line := range strings.Split(changelog, "\n") {
		if strings.HasPrefix(line, "## ") {
			if in {
				break
			}
			in = strings.HasPrefix(line, "## ["+v+"]")
			continue
		}
		if in && !linkReference.MatchString(line) { // the links at the file's end
			body = append(body, line)
		}
	}
	notes := strings.TrimSpace(strings.Join(body, "\n"))
	if !in && notes == "" {
		return "", badInput("CHANGELOG.md has no section \"## [%s]\": write what the release changes first", v)
	}
	if notes == "" {
		return "", badInput("CHANGELOG.md's section \"## [%s]\" is empty", v)
	}
	return notes + "\n", nil
}

// build makes every artifact in a directory beside Dist and renames it into
// place.
func (r *release) build(log io.Writer) (err error) {
	began := time.Now()
	work, err := os.MkdirTemp("", "podseq-release-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	if err := os.MkdirAll(filepath.Dir(r.Dist), 0o755); err != nil {
		return err
	}
	stage, err := os.MkdirTemp(filepath.Dir(r.Dist), "."+filepath.Base(r.Dist)+"-")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(stage)
		}
	}()
	if err := os.Chmod(stage, 0o755); err != nil {
		return err
	}

	bins := filepath.Join(work, "bin")
	sums := map[string]string{} // archive -> sha256, for the krew manifest
	for _, t := range targets() {
		fmt.Fprintf(log, "release: build %s %s/%s\n", t.Name, t.OS, t.Arch)
		bin := filepath.Join(bins, t.OS+"-"+t.Arch, t.exe())
		if err := r.run(r.Repo, []string{"GOOS=" + t.OS, "GOARCH=" + t.Arch, "VERSION=" + r.Version, "OUT=" + bin, "PKG=" + t.Pkg},
			"hack/build.sh"); err != nil {
			return fmt.Errorf("build %s for %s/%s: %w", t.Name, t.OS, t.Arch, err)
		}
		files := []archiveFile{
			{Name: t.exe(), Src: bin, Mode: 0o755},
			{Name: "LICENSE", Src: filepath.Join(r.Repo, "LICENSE"), Mode: 0o644},
			{Name: "README.md", Src: filepath.Join(r.Repo, "README.md"), Mode: 0o644},
		}
		out := filepath.Join(stage, t.archive(r.Version))
		if t.OS == "windows" {
			err = writeZip(out, files, r.epoch)
		} else {
			err = writeTarGz(out, files, r.epoch)
		}
		if err != nil {
			return fmt.Errorf("archive %s: %w", t.archive(r.Version), err)
		}
		if sums[t.archive(r.Version)], err = fileSHA256(out); err != nil {
			return err
		}
	}
	for _, d := range extraDirs() {
		src := filepath.Join(r.Repo, d.Dir)
		if _, err := os.Stat(src); os.IsNotExist(err) {
			fmt.Fprintf(log, "release: skip %s: the directory does not exist\n", d.Dir)
			continue
		}
		files, err := dirFiles(src)
		if err != nil {
			return fmt.Errorf("archive %s: %w", d.Dir, err)
		}
		files = append(files, archiveFile{Name: "LICENSE", Src: filepath.Join(r.Repo, "LICENSE"), Mode: 0o644})
		name := fmt.Sprintf("%s_%s.tar.gz", d.Name, r.Version)
		if err := writeTarGz(filepath.Join(stage, name), files, r.epoch); err != nil {
			return fmt.Errorf("archive %s: %w", d.Dir, err)
		}
	}

	fmt.Fprintln(log, "release: image (linux/"+strings.Join(imageArchs(), ", linux/")+")")
	if err := r.run(r.Repo, []string{"OCI=" + filepath.Join(stage, "image"), "ARCHS=" + strings.Join(imageArchs(), " "),
		"BINDIR=" + bins, "PREBUILT=1", "VERSION=" + r.Version, "REVISION=" + r.revision,
		"SOURCE_DATE_EPOCH=" + strconv.FormatInt(r.epoch.Unix(), 10)}, "hack/image-tar.sh"); err != nil {
		return fmt.Errorf("image: %w", err)
	}
	digest, err := indexDigest(filepath.Join(stage, "image"))
	if err != nil {
		return fmt.Errorf("image: %w", err)
	}

	fmt.Fprintln(log, "release: SBOMs")
	if err := r.sboms(work, bins, stage); err != nil {
		return err
	}

	fmt.Fprintln(log, "release: krew manifest, manifests, notes")
	if err := writeFile(filepath.Join(stage, "krew", "podseq.yaml"), krewManifest(r.Version, sums)); err != nil {
		return err
	}
	image := version.Repository + ":" + r.Version + "@" + digest
	if err := renderManifests(filepath.Join(r.Repo, "manifests"), filepath.Join(stage, "manifests"), image); err != nil {
		return fmt.Errorf("manifests: %w", err)
	}
	if err := writeFile(filepath.Join(stage, "release-notes.md"), []byte(r.notes)); err != nil {
		return err
	}
	if err := writeChecksums(stage); err != nil {
		return err
	}
	if err := replaceDir(stage, r.Dist); err != nil {
		return fmt.Errorf("move the release into %s: %w", r.Dist, err)
	}
	fmt.Fprintf(log, "release: %s in %s (%s), image index %s\n", r.Version, r.Dist, time.Since(began).Round(time.Second), digest)
	return nil
}

// sboms writes a CycloneDX SBOM of every binary with cyclonedx-gomod, built
// -trimpath from this module so that its own hashes, which the SBOM records,
// are the same on every machine with the same Go.
func (r *release) sboms(work, bins, stage string) error {
	tool := filepath.Join(work, "tools", "cyclonedx-gomod")
	if err := r.run(".", nil, "go", "build", "-trimpath", "-o", tool, "github.com/CycloneDX/cyclonedx-gomod/cmd/cyclonedx-gomod"); err != nil {
		return fmt.Errorf("build cyclonedx-gomod: %w", err)
	}
	for _, t := range targets() {
		bin := filepath.Join(bins, t.OS+"-"+t.Arch, t.exe())
		out := filepath.Join(stage, t.sbom(r.Version))
		if err := r.run(".", nil, tool, "bin", "-json", "-notimestamp", "-serial", serial(t.sbom(r.Version)),
			"-version", r.Version, "-output", out, bin); err != nil {
			return fmt.Errorf("SBOM of %s %s/%s: %w", t.Name, t.OS, t.Arch, err)
		}
	}
	return nil
}

// serial is a UUID (version 5 layout) derived from what an SBOM describes,
// so that the same release gives the same serial number.
func serial(what string) string {
	h := sha256.Sum256([]byte(sourceURL + "/" + what))
	h[6] = h[6]&0x0f | 0x50
	h[8] = h[8]&0x3f | 0x80
	x := hex.EncodeToString(h[:16])
	return x[0:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:32]
}

// indexDigest returns the digest of the image index an OCI layout names.
func indexDigest(dir string) (string, error) {
	p, err := layout.FromPath(dir)
	if err != nil {
		return "", err
	}
	idx, err := p.ImageIndex()
	if err != nil {
		return "", err
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return "", err
	}
	if len(m.Manifests) != 1 {
		return "", fmt.Errorf("%s/index.json names %d manifests, want one index", dir, len(m.Manifests))
	}
	return m.Manifests[0].Digest.String(), nil
}

// writeChecksums writes checksums.txt, sha256sum's format, of every other
// file under dir, sorted by path.
func writeChecksums(dir string) error {
	var paths []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		if rel != "checksums.txt" {
			paths = append(paths, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		return err
	}
	slices.Sort(paths)
	var b bytes.Buffer
	for _, p := range paths {
		sum, err := fileSHA256(filepath.Join(dir, p))
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s  %s\n", sum, p)
	}
	return writeFile(filepath.Join(dir, "checksums.txt"), b.Bytes())
}

// fileSHA256 returns a file's sha256 in hex.
func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// writeFile writes data to path, 0644, making its directory.
func writeFile(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}

// replaceDir renames the directory src to dst, removing what was at dst.
func replaceDir(src, dst string) error {
	if _, err := os.Lstat(dst); err == nil {
		old := src + ".old"
		if err := os.Rename(dst, old); err != nil {
			return err
		}
		defer os.RemoveAll(old)
	}
	return os.Rename(src, dst)
}

// run runs a command in dir with extra environment; its output goes into
// the error when it fails.
func (r *release) run(dir string, env []string, name string, args ...string) error {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", name, err, tail(string(out), 2000))
	}
	return nil
}

// git runs git in repo and returns its trimmed output.
func git(repo string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = repo
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}

// tail returns the last n bytes of s.
func tail(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
