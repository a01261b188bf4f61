package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"sigs.k8s.io/yaml"

	"github.com/podseq/podseq/internal/version"
)

// The release the test makes.
const (
	testVersion = "v0.1.0"
	testEpoch   = "1700000000"
)

// repoRoot is the repository, from hack/release.
const repoRoot = "../.."

// makeRelease runs the release as `make release` does (the program's run,
// in-process) into dist; the work tree may have uncommitted changes.
func makeRelease(t *testing.T, dist string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	began := time.Now()
	code := run([]string{"-version", testVersion, "-repo", repoRoot, "-dist", dist, "-allow-dirty"}, &stdout, &stderr)
	if code != exitOK {
		t.Fatalf("release: exit %d\n%s%s", code, stdout.String(), stderr.String())
	}
	t.Logf("release into %s: %s", dist, time.Since(began).Round(time.Second))
}

// TestRelease makes a release twice from this commit, with one
// SOURCE_DATE_EPOCH, and checks what it promises: the checksum file, the
// archives, the image index and its two platforms, the binaries' --version
// and the image their inject writes, the krew manifest (with krew's own
// validation and install), the pinned manifests, and that both runs gave the
// same bytes.
func TestRelease(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", testEpoch)
	tmp := t.TempDir()
	dist := filepath.Join(tmp, "dist")
	makeRelease(t, dist)

	t.Run("checksums", func(t *testing.T) { checkChecksums(t, dist) })
	t.Run("archives", func(t *testing.T) { checkArchives(t, dist) })
	var digest string
	t.Run("image", func(t *testing.T) { digest = checkImage(t, dist) })
	t.Run("binaries", func(t *testing.T) { checkBinaries(t, dist, filepath.Join(tmp, "run")) })
	t.Run("krew manifest", func(t *testing.T) { checkKrewManifest(t, dist) })
	t.Run("krew install", func(t *testing.T) { checkKrewInstall(t, dist, filepath.Join(tmp, "krew")) })
	t.Run("manifests", func(t *testing.T) { checkManifests(t, dist, digest) })
	t.Run("notes", func(t *testing.T) { checkNotes(t, dist) })

	t.Run("reproducible", func(t *testing.T) {
		again := filepath.Join(tmp, "again")
		makeRelease(t, again)
		a, b := readFile(t, filepath.Join(dist, "checksums.txt")), readFile(t, filepath.Join(again, "checksums.txt"))
		if !bytes.Equal(a, b) {
			t.Errorf("two runs of one commit gave different checksums.txt:\n%s\n---\n%s", a, b)
		}
		d1, err := indexDigest(filepath.Join(dist, "image"))
		if err != nil {
			t.Fatal(err)
		}
		d2, err := indexDigest(filepath.Join(again, "image"))
		if err != nil {
			t.Fatal(err)
		}
		if d1 != d2 {
			t.Errorf("image index: %s, then %s", d1, d2)
		}
	})
}

func readFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkChecksums: `sha256sum -c checksums.txt` passes in dist, and the file
// lists every other file of dist.
func checkChecksums(t *testing.T, dist string) {
	cmd := exec.Command("sha256sum", "--strict", "-c", "checksums.txt")
	cmd.Dir = dist
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sha256sum -c checksums.txt: %v\n%s", err, out)
	}
	line := regexp.MustCompile(`^[0-9a-f]{64}  (\S+)$`)
	var listed []string
	for _, l := range strings.Split(strings.TrimSuffix(string(readFile(t, filepath.Join(dist, "checksums.txt"))), "\n"), "\n") {
		m := line.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("checksums.txt: line %q is not sha256sum's", l)
		}
		listed = append(listed, m[1])
	}
	var files []string
	err := filepath.WalkDir(dist, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dist, p)
		if rel != "checksums.txt" {
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(files)
	if !slices.Equal(listed, files) {
		t.Errorf("checksums.txt lists %q\ndist holds %q", listed, files)
	}
	for _, tg := range targets() {
		for _, f := range []string{tg.archive(testVersion), tg.sbom(testVersion)} {
			if !slices.Contains(files, f) {
				t.Errorf("dist has no %s", f)
			}
		}
	}
	for _, f := range []string{"krew/podseq.yaml", "image/index.json", "image/oci-layout", "release-notes.md", "manifests/podseq-demo.yaml"} {
		if !slices.Contains(files, f) {
			t.Errorf("dist has no %s", f)
		}
	}
}

// archiveEntry is one file of an archive.
type archiveEntry struct {
	mode     int64
	uid, gid int
	mtime    time.Time
	data     []byte
}

// readArchive reads a .tar.gz or .zip.
func readArchive(t *testing.T, p string) map[string]archiveEntry {
	t.Helper()
	out := map[string]archiveEntry{}
	if strings.HasSuffix(p, ".zip") {
		zr, err := zip.OpenReader(p)
		if err != nil {
			t.Fatal(err)
		}
		defer zr.Close()
		for _, f := range zr.File {
			rc, err := f.Open()
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				t.Fatal(err)
			}
			out[f.Name] = archiveEntry{mode: int64(f.Mode().Perm()), mtime: f.Modified, data: b}
		}
		return out
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out[h.Name] = archiveEntry{mode: h.Mode, uid: h.Uid, gid: h.Gid, mtime: h.ModTime, data: b}
	}
}

// checkArchives: every archive holds its binary, LICENSE and README.md, the
// repository's, owned by 0:0 and stamped SOURCE_DATE_EPOCH.
func checkArchives(t *testing.T, dist string) {
	license, readme := readFile(t, filepath.Join(repoRoot, "LICENSE")), readFile(t, filepath.Join(repoRoot, "README.md"))
	if !bytes.Contains(license, []byte("Apache License")) || !bytes.Contains(license, []byte("Version 2.0, January 2004")) {
		t.Error("LICENSE is not the Apache License 2.0")
	}
	epoch := time.Unix(1700000000, 0).UTC()
	for _, tg := range targets() {
		entries := readArchive(t, filepath.Join(dist, tg.archive(testVersion)))
		names := slices.Sorted(func(yield func(string) bool) {
			for n := range entries {
				if !yield(n) {
					return
				}
			}
		})
		if want := []string{"LICENSE", "README.md", tg.exe()}; !slices.Equal(names, slices.Sorted(slices.Values(want))) {
			t.Errorf("%s holds %q, want %q", tg.archive(testVersion), names, want)
			continue
		}
		for name, e := range entries {
			if e.uid != 0 || e.gid != 0 || !e.mtime.Equal(epoch) {
				t.Errorf("%s: %s owned %d:%d, stamped %s; want 0:0 and %s", tg.archive(testVersion), name, e.uid, e.gid, e.mtime, epoch)
			}
		}
		if !bytes.Equal(entries["LICENSE"].data, license) || !bytes.Equal(entries["README.md"].data, readme) {
			t.Errorf("%s: LICENSE or README.md is not the repository's", tg.archive(testVersion))
		}
		if entries[tg.exe()].mode != 0o755 {
			t.Errorf("%s: %s mode %o, want 755", tg.archive(testVersion), tg.exe(), entries[tg.exe()].mode)
		}
	}
}

// checkImage: the layout's index holds linux/amd64 and linux/arm64, each
// with the archives' /podseq and /kubectl-podseq, nonroot, and the OCI
// labels. It returns the index's digest.
func checkImage(t *testing.T, dist string) string {
	p, err := layout.FromPath(filepath.Join(dist, "image"))
	if err != nil {
		t.Fatal(err)
	}
	top, err := p.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	tm, err := top.IndexManifest()
	if err != nil || len(tm.Manifests) != 1 {
		t.Fatalf("index.json: %v, %v, want one index", tm, err)
	}
	idx, err := top.ImageIndex(tm.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var platforms []string
	revision, err := git(repoRoot, "rev-parse", "HEAD")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range im.Manifests {
		platforms = append(platforms, d.Platform.OS+"/"+d.Platform.Architecture)
		img, err := idx.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range map[string]string{
			"org.opencontainers.image.source":   sourceURL,
			"org.opencontainers.image.version":  testVersion,
			"org.opencontainers.image.revision": revision,
			"org.opencontainers.image.licenses": "Apache-2.0",
		} {
			if cfg.Config.Labels[k] != v {
				t.Errorf("%s: label %s=%q, want %q", d.Platform, k, cfg.Config.Labels[k], v)
			}
		}
		if cfg.Config.User != "65532:65532" || !slices.Equal(cfg.Config.Entrypoint, []string{"/podseq"}) {
			t.Errorf("%s: user %q, entrypoint %q", d.Platform, cfg.Config.User, cfg.Config.Entrypoint)
		}
		files := imageFiles(t, img)
		for _, name := range []string{"podseq", "kubectl-podseq"} {
			tg := target{Name: name, OS: "linux", Arch: d.Platform.Architecture}
			want := readArchive(t, filepath.Join(dist, tg.archive(testVersion)))[name].data
			if len(want) == 0 || !bytes.Equal(files[name], want) {
				t.Errorf("%s: /%s (%d bytes) is not the archive's (%d bytes)", d.Platform, name, len(files[name]), len(want))
			}
		}
	}
	if !slices.Equal(platforms, []string{"linux/amd64", "linux/arm64"}) {
		t.Errorf("the index's platforms: %q, want linux/amd64 and linux/arm64", platforms)
	}
	return tm.Manifests[0].Digest.String()
}

// imageFiles reads an image's one layer: path -> content.
func imageFiles(t *testing.T, img v1.Image) map[string][]byte {
	t.Helper()
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers: %d, %v", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	out := map[string][]byte{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out[h.Name] = b
	}
}

// extract writes one file of an archive to dir/name, executable.
func extract(t *testing.T, archive, name, dir string) string {
	t.Helper()
	e, ok := readArchive(t, archive)[name]
	if !ok {
		t.Fatalf("%s holds no %s", archive, name)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, e.data, 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// injectInput is a workload with an order for inject.
const injectInput = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    metadata:
      annotations:
        after.podseq.dev/app: proxy
    spec:
      containers:
      - name: app
        image: example.com/app:1
        command: [/app]
      - name: proxy
        image: example.com/proxy:1
        readinessProbe:
          httpGet: {path: /ready, port: 9901}
`

// checkBinaries runs this machine's binaries from the archives: both print
// the version, and inject (kubectl-podseq's, and podseq's, which runs it)
// writes the release's image by default and says so in --help.
func checkBinaries(t *testing.T, dist, dir string) {
	if runtime.GOOS != "linux" {
		t.Fatalf("the release test runs the linux binaries; this is %s", runtime.GOOS)
	}
	var bins = map[string]string{}
	for _, name := range []string{"podseq", "kubectl-podseq"} {
		tg := target{Name: name, OS: "linux", Arch: runtime.GOARCH}
		bins[name] = extract(t, filepath.Join(dist, tg.archive(testVersion)), name, dir)
		out, err := exec.Command(bins[name], "--version").Output()
		if want := name + " version " + testVersion + "\n"; err != nil || string(out) != want {
			t.Errorf("%s --version: %q, %v; want %q", name, out, err, want)
		}
	}
	want := "ghcr.io/podseq/podseq:" + testVersion
	if got := version.Image(testVersion); got != want {
		t.Fatalf("version.Image(%s) = %s, want %s", testVersion, got, want)
	}
	for _, bin := range []string{bins["kubectl-podseq"], bins["podseq"]} {
		cmd := exec.Command(bin, "inject", "-f", "-")
		cmd.Stdin = strings.NewReader(injectInput)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil || !strings.Contains(string(out), "image: "+want+"\n") {
			t.Errorf("%s inject: %v %s, want image: %s in:\n%s", filepath.Base(bin), err, stderr.String(), want, out)
		}
		if strings.Contains(string(out), version.DevImage) {
			t.Errorf("%s inject writes %s", filepath.Base(bin), version.DevImage)
		}
	}
	out, err := exec.Command(bins["kubectl-podseq"], "inject", "--help").Output()
	if err != nil || !strings.Contains(string(out), "the image of this release, "+testVersion) || !strings.Contains(string(out), `(default: "`+want+`")`) {
		t.Errorf("inject --help: %v, want the release's image and why:\n%s", err, out)
	}
}

// krewPlugin is what the test reads of a krew plugin manifest.
type krewPlugin struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		Version   string `json:"version"`
		Platforms []struct {
			Selector struct {
				MatchLabels map[string]string `json:"matchLabels"`
			} `json:"selector"`
			URI    string `json:"uri"`
			SHA256 string `json:"sha256"`
			Bin    string `json:"bin"`
		} `json:"platforms"`
	} `json:"spec"`
}

// checkKrewManifest: one platform per kubectl-podseq target, each with its
// archive's release URL and sha256.
func checkKrewManifest(t *testing.T, dist string) {
	var p krewPlugin
	if err := yaml.Unmarshal(readFile(t, filepath.Join(dist, "krew", "podseq.yaml")), &p); err != nil {
		t.Fatal(err)
	}
	if p.Metadata.Name != "podseq" || p.Spec.Version != testVersion || p.Kind != "Plugin" {
		t.Errorf("krew manifest: name %q, version %q, kind %q", p.Metadata.Name, p.Spec.Version, p.Kind)
	}
	var want []string
	for _, tg := range targets() {
		if tg.Name == "kubectl-podseq" {
			want = append(want, tg.OS+"/"+tg.Arch)
		}
	}
	var got []string
	for _, pl := range p.Spec.Platforms {
		osArch := pl.Selector.MatchLabels["os"] + "/" + pl.Selector.MatchLabels["arch"]
		got = append(got, osArch)
		prefix := "https://github.com/podseq/podseq/releases/download/" + testVersion + "/"
		if !strings.HasPrefix(pl.URI, prefix) {
			t.Errorf("%s: uri %s, want it under %s", osArch, pl.URI, prefix)
			continue
		}
		sum, err := fileSHA256(filepath.Join(dist, path.Base(pl.URI)))
		if err != nil {
			t.Errorf("%s: %v", osArch, err)
			continue
		}
		if pl.SHA256 != sum {
			t.Errorf("%s: sha256 %s, the archive's is %s", osArch, pl.SHA256, sum)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("krew platforms %q, want %q", got, want)
	}
}

// checkKrewInstall validates the manifest with krew's validate-krew-manifest
// (the check of krew's plugin index) and installs every platform's archive
// with krew into a KREW_ROOT of its own, as `kubectl krew install --manifest
// M --archive A` does; this machine's plugin then runs as `kubectl podseq`
// would run it (kubectl execs kubectl-podseq from KREW_ROOT/bin).
func checkKrewInstall(t *testing.T, dist, dir string) {
	tools := filepath.Join(dir, "tools")
	build := exec.Command("go", "build", "-o", tools+"/", "sigs.k8s.io/krew/cmd/krew", "sigs.k8s.io/krew/cmd/validate-krew-manifest")
	build.Dir = "../krew"
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build krew: %v\n%s", err, out)
	}
	manifest := filepath.Join(dist, "krew", "podseq.yaml")
	if out, err := exec.Command(filepath.Join(tools, "validate-krew-manifest"), "-manifest", manifest, "-skip-install").CombinedOutput(); err != nil {
		t.Fatalf("validate-krew-manifest: %v\n%s", err, out)
	}
	for _, tg := range targets() {
		if tg.Name != "kubectl-podseq" {
			continue
		}
		root := filepath.Join(dir, tg.OS+"-"+tg.Arch)
		cmd := exec.Command(filepath.Join(tools, "krew"), "install", "--manifest", manifest, "--archive", filepath.Join(dist, tg.archive(testVersion)))
		cmd.Env = append(os.Environ(), "KREW_ROOT="+root, "KREW_OS="+tg.OS, "KREW_ARCH="+tg.Arch)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("krew install %s/%s: %v\n%s", tg.OS, tg.Arch, err, out)
			continue
		}
		store := filepath.Join(root, "store", "podseq", testVersion)
		for _, f := range []string{"LICENSE", tg.exe()} {
			if _, err := os.Stat(filepath.Join(store, f)); err != nil {
				t.Errorf("krew install %s/%s: %v", tg.OS, tg.Arch, err)
			}
		}
		if tg.OS != runtime.GOOS || tg.Arch != runtime.GOARCH {
			continue
		}
		plugin := filepath.Join(root, "bin", "kubectl-podseq")
		out, err := exec.Command(plugin, "--version").Output()
		if err != nil || string(out) != "kubectl-podseq version "+testVersion+"\n" {
			t.Errorf("%s --version: %q, %v", plugin, out, err)
		}
		inject := exec.Command(plugin, "inject", "-f", "-")
		inject.Stdin = strings.NewReader(injectInput)
		if out, err := inject.Output(); err != nil || !strings.Contains(string(out), "image: "+version.Image(testVersion)) {
			t.Errorf("kubectl podseq inject: %v\n%s", err, out)
		}
	}
}

// checkManifests: every example, built, runs the released image pinned by
// the index's digest, and none names podseq:dev.
func checkManifests(t *testing.T, dist, digest string) {
	files, err := filepath.Glob(filepath.Join(dist, "manifests", "podseq-*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	dirs, err := filepath.Glob(filepath.Join(repoRoot, "manifests", "*", "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(dirs) {
		t.Errorf("%d built manifests for %d examples", len(files), len(dirs))
	}
	pinned := "image: " + version.Repository + ":" + testVersion + "@" + digest + "\n"
	for _, f := range files {
		b := readFile(t, f)
		if bytes.Contains(b, []byte(version.DevImage)) {
			t.Errorf("%s names %s", filepath.Base(f), version.DevImage)
		}
		if filepath.Base(f) != "podseq-inject.yaml" && !bytes.Contains(b, []byte(pinned)) { // inject's examples have no podseq until injected
			t.Errorf("%s has no %q", filepath.Base(f), strings.TrimSpace(pinned))
		}
		for _, m := range regexp.MustCompile(`image: (\S*podseq\S*)`).FindAllSubmatch(b, -1) {
			if "image: "+string(m[1])+"\n" != pinned {
				t.Errorf("%s: image %s, want %s", filepath.Base(f), m[1], strings.TrimSpace(pinned))
			}
		}
	}
}

// checkNotes: the release notes are CHANGELOG.md's section of the version.
func checkNotes(t *testing.T, dist string) {
	notes := string(readFile(t, filepath.Join(dist, "release-notes.md")))
	if !strings.Contains(notes, "### Added") || strings.Contains(notes, "## [") || strings.Contains(notes, "[v0.1.0]: ") {
		t.Errorf("release-notes.md is not CHANGELOG.md's %s section:\n%s", testVersion, notes)
	}
}
