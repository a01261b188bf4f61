package main

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-containerregistry/pkg/crane"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// header is one tar entry of the layer, with its content.
type header struct {
	*tar.Header
	data []byte
}

// readImage re-reads a tarball written by mkimage: its manifest.json, its
// config and its single layer's entries.
func readImage(t *testing.T, out, tag string) (*v1.ConfigFile, map[string]header, tarball.Manifest) {
	t.Helper()
	ref, err := name.NewTag(tag)
	if err != nil {
		t.Fatal(err)
	}
	img, err := tarball.ImageFromPath(out, &ref)
	if err != nil {
		t.Fatalf("tarball.ImageFromPath: %v", err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 1 {
		t.Fatalf("layers: got %d, want 1", len(layers))
	}
	if len(cfg.RootFS.DiffIDs) != 1 {
		t.Fatalf("rootfs diff_ids: got %d, want 1", len(cfg.RootFS.DiffIDs))
	}
	diffID, err := layers[0].DiffID()
	if err != nil {
		t.Fatal(err)
	}
	if diffID != cfg.RootFS.DiffIDs[0] {
		t.Errorf("diff_id: config says %s, layer is %s", cfg.RootFS.DiffIDs[0], diffID)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	files := map[string]header{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("layer tar: %v", err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if _, dup := files[h.Name]; dup {
			t.Errorf("layer holds %s twice", h.Name)
		}
		files[h.Name] = header{h, data}
	}

	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var m tarball.Manifest
	tr = tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Name == "manifest.json" {
			if err := json.NewDecoder(tr).Decode(&m); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(m) != 1 {
		t.Fatalf("manifest.json: got %d images, want 1", len(m))
	}
	return cfg, files, m
}

func mustRun(t *testing.T, args ...string) {
	t.Helper()
	var stderr bytes.Buffer
	if code := run(args, &stderr); code != exitOK {
		t.Fatalf("mkimage %s: exit %d: %s", strings.Join(args, " "), code, stderr.String())
	}
}

// TestPodseqImage builds the image as hack/image-tar.sh does, from a real
// executable of this machine's architecture (the test binary).
func TestPodseqImage(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "img.tar")
	mustRun(t, "-o", out, "-tag", "podseq:dev", "-arch", runtime.GOARCH,
		"-file", exe+":/podseq:0755", "-entrypoint", "/podseq", "-user", "65532:65532")

	cfg, files, m := readImage(t, out, "podseq:dev")
	if got := m[0].RepoTags; !slices.Equal(got, []string{"podseq:dev"}) {
		t.Errorf("RepoTags: got %q, want [podseq:dev] (containerd reads it as docker.io/library/podseq:dev)", got)
	}
	if cfg.Architecture != runtime.GOARCH || cfg.OS != "linux" {
		t.Errorf("platform: got %s/%s, want linux/%s", cfg.OS, cfg.Architecture, runtime.GOARCH)
	}
	if !slices.Equal(cfg.Config.Entrypoint, []string{"/podseq"}) {
		t.Errorf("Entrypoint: got %q", cfg.Config.Entrypoint)
	}
	if cfg.Config.Cmd != nil {
		t.Errorf("Cmd: got %q, want unset", cfg.Config.Cmd)
	}
	if cfg.Config.User != "65532:65532" {
		t.Errorf("User: got %q", cfg.Config.User)
	}
	if !slices.Equal(cfg.Config.Env, []string{defaultPath}) {
		t.Errorf("Env: got %q, want Docker's default PATH", cfg.Config.Env)
	}
	if len(files) != 1 {
		var names []string
		for n := range files {
			names = append(names, n)
		}
		t.Errorf("layer: got %q, want only podseq", names)
	}
	f, ok := files["podseq"]
	if !ok {
		t.Fatal("layer has no podseq")
	}
	if f.Typeflag != tar.TypeReg || f.Mode != 0o755 || f.Uid != 0 || f.Gid != 0 {
		t.Errorf("podseq: type %c mode %o owner %d:%d, want a 0755 file owned by 0:0", f.Typeflag, f.Mode, f.Uid, f.Gid)
	}
	if !bytes.Equal(f.data, want) {
		t.Errorf("podseq: content differs from %s (%d bytes, want %d)", exe, len(f.data), len(want))
	}
	if f.ModTime.Unix() != 0 {
		t.Errorf("podseq mtime: got %v, want the epoch", f.ModTime)
	}

	// The same inputs give the same image.
	out2 := filepath.Join(t.TempDir(), "img.tar")
	mustRun(t, "-o", out2, "-tag", "podseq:dev", // -arch defaults to this machine's
		"-file", exe+":/podseq:0755", "-entrypoint", "/podseq", "-user", "65532:65532")
	_, _, m2 := readImage(t, out2, "podseq:dev")
	if m[0].Config != m2[0].Config {
		t.Errorf("two builds of the same inputs: config %s and %s", m[0].Config, m2[0].Config)
	}
}

// TestWrongArch refuses an entrypoint built for another architecture.
func TestWrongArch(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	other := "arm64"
	if runtime.GOARCH == "arm64" {
		other = "amd64"
	}
	out := filepath.Join(t.TempDir(), "img.tar")
	var stderr bytes.Buffer
	code := run([]string{"-o", out, "-tag", "x:y", "-arch", other, "-file", exe + ":/podseq", "-entrypoint", "/podseq"}, &stderr)
	if code != exitUsage || !strings.Contains(stderr.String(), "not -arch "+other) {
		t.Errorf("got exit %d %q, want 2 and a line naming the architecture", code, stderr.String())
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("%s exists after a failure", out)
	}
	// With a non-ELF entrypoint (a script) there is nothing to check.
	script := filepath.Join(t.TempDir(), "s")
	if err := os.WriteFile(script, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	mustRun(t, "-o", out, "-tag", "x:y", "-arch", other, "-file", script+":/s", "-entrypoint", "/s")
	cfg, _, _ := readImage(t, out, "x:y")
	if cfg.Architecture != other {
		t.Errorf("Architecture: got %s, want %s", cfg.Architecture, other)
	}
	if other == "arm64" && cfg.Variant != "v8" {
		t.Errorf("arm64 Variant: got %q, want v8", cfg.Variant)
	}
}

// TestRootfs copies a busybox-like tree: directories, symlinks, hard links,
// setuid bits; -file overrides a rootfs file; -cmd and -env land in the config.
func TestRootfs(t *testing.T) {
	root := t.TempDir()
	mk := func(p string, data string, mode os.FileMode) {
		t.Helper()
		p = filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil { // past the umask
			t.Fatal(err)
		}
	}
	mk("bin/busybox", "BUSYBOX", 0o755)
	mk("etc/passwd", "root:x:0:0::/root:/bin/sh\n", 0o644)
	mk("bin/su", "SU", os.ModeSetuid|0o755)
	mk("etc/override", "from rootfs", 0o600)
	if err := os.Symlink("busybox", filepath.Join(root, "bin/sh")); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(root, "bin/busybox"), filepath.Join(root, "bin/wget")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(root, "tmp"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(root, "tmp"), os.ModeSticky|0o777); err != nil {
		t.Fatal(err)
	}
	extra := filepath.Join(t.TempDir(), "extra")
	if err := os.WriteFile(extra, []byte("from -file"), 0o644); err != nil {
		t.Fatal(err)
	}

	out := filepath.Join(t.TempDir(), "bb.tar")
	mustRun(t, "-o", out, "-tag", "registry.local:5000/e2e/busybox:1.36", "-arch", "arm64",
		"-rootfs", root, "-file", extra+":/etc/override", "-file", extra+":/opt/deep/x:0700",
		"-cmd", "sh,-c,echo hi", "-env", "A=1", "-env", "PATH=/bin")

	cfg, files, m := readImage(t, out, "registry.local:5000/e2e/busybox:1.36")
	if got := m[0].RepoTags; !slices.Equal(got, []string{"registry.local:5000/e2e/busybox:1.36"}) {
		t.Errorf("RepoTags: got %q", got)
	}
	if !slices.Equal(cfg.Config.Cmd, []string{"sh", "-c", "echo hi"}) {
		t.Errorf("Cmd: got %q", cfg.Config.Cmd)
	}
	if cfg.Config.Entrypoint != nil || cfg.Config.User != "" {
		t.Errorf("Entrypoint %q User %q: want both unset", cfg.Config.Entrypoint, cfg.Config.User)
	}
	if !slices.Equal(cfg.Config.Env, []string{"A=1", "PATH=/bin"}) {
		t.Errorf("Env: got %q (a PATH given replaces the default)", cfg.Config.Env)
	}
	if cfg.Architecture != "arm64" || cfg.Variant != "v8" {
		t.Errorf("platform: got %s/%s", cfg.Architecture, cfg.Variant)
	}

	type want struct {
		typ  byte
		mode int64
		data string
		link string
	}
	wants := map[string]want{
		"bin/":         {typ: tar.TypeDir, mode: 0o755},
		"bin/busybox":  {typ: tar.TypeReg, mode: 0o755, data: "BUSYBOX"},
		"bin/sh":       {typ: tar.TypeSymlink, mode: 0o777, link: "busybox"},
		"bin/su":       {typ: tar.TypeReg, mode: 0o4755, data: "SU"},
		"bin/wget":     {typ: tar.TypeLink, mode: 0o755, link: "bin/busybox"},
		"etc/":         {typ: tar.TypeDir, mode: 0o755},
		"etc/passwd":   {typ: tar.TypeReg, mode: 0o644, data: "root:x:0:0::/root:/bin/sh\n"},
		"etc/override": {typ: tar.TypeReg, mode: 0o644, data: "from -file"},
		"opt/":         {typ: tar.TypeDir, mode: 0o755},
		"opt/deep/":    {typ: tar.TypeDir, mode: 0o755},
		"opt/deep/x":   {typ: tar.TypeReg, mode: 0o700, data: "from -file"},
		"tmp/":         {typ: tar.TypeDir, mode: 0o1777},
	}
	for n, w := range wants {
		f, ok := files[n]
		if !ok {
			t.Errorf("layer has no %s", n)
			continue
		}
		if f.Typeflag != w.typ || f.Mode != w.mode || string(f.data) != w.data || f.Linkname != w.link || f.Uid != 0 || f.Gid != 0 {
			t.Errorf("%s: got type %c mode %o data %q link %q owner %d:%d, want type %c mode %o data %q link %q owner 0:0",
				n, f.Typeflag, f.Mode, f.data, f.Linkname, f.Uid, f.Gid, w.typ, w.mode, w.data, w.link)
		}
	}
	for n := range files {
		if _, ok := wants[n]; !ok {
			t.Errorf("unexpected entry %s", n)
		}
	}
	// Hard links must follow their target in the stream.
	var order []string
	for n := range files {
		order = append(order, n)
	}
	slices.Sort(order)
	if slices.Index(order, "bin/wget") < slices.Index(order, "bin/busybox") {
		t.Error("the hard link comes before its target")
	}
}

// TestBadInput: one line, exit 2 for malformed flags, 1 for unreadable inputs
// or an unwritable output, and never a partial tarball.
func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "o.tar")
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	tree := t.TempDir()
	if err := os.WriteFile(filepath.Join(tree, "ok"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(tree, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"no output", []string{"-tag", "a:b"}, exitUsage, "-o OUT.tar is required"},
		{"no tag", []string{"-o", out}, exitUsage, "-tag REF is required"},
		{"bad tag", []string{"-o", out, "-tag", "UPPER/Case:x"}, exitUsage, `-tag "UPPER/Case:x"`},
		{"bad arch", []string{"-o", out, "-tag", "a:b", "-arch", "s390x"}, exitUsage, `-arch "s390x": want amd64 or arm64`},
		{"unknown flag", []string{"-o", out, "-tag", "a:b", "-nope"}, exitUsage, "flag provided but not defined: -nope"},
		{"positional", []string{"-o", out, "-tag", "a:b", "extra"}, exitUsage, `unexpected argument "extra"`},
		{"bad env", []string{"-o", out, "-tag", "a:b", "-env", "NOEQUALS"}, exitUsage, `-env "NOEQUALS": want K=V`},
		{"bad user", []string{"-o", out, "-tag", "a:b", "-user", "a b"}, exitUsage, `-user "a b"`},
		{"file no dst", []string{"-o", out, "-tag", "a:b", "-file", file}, exitUsage, "want SRC:DST[:MODE]"},
		{"file relative dst", []string{"-o", out, "-tag", "a:b", "-file", file + ":x"}, exitUsage, "DST must be an absolute"},
		{"file bad mode", []string{"-o", out, "-tag", "a:b", "-file", file + ":/x:0999"}, exitUsage, `MODE "0999"`},
		{"missing file", []string{"-o", out, "-tag", "a:b", "-file", file + "-gone:/x"}, exitIO, "no such file or directory"},
		{"file is a dir", []string{"-o", out, "-tag", "a:b", "-file", dir + ":/x"}, exitIO, "not a regular file"},
		{"missing rootfs", []string{"-o", out, "-tag", "a:b", "-rootfs", dir + "/gone"}, exitIO, "no such file or directory"},
		{"rootfs is a file", []string{"-o", out, "-tag", "a:b", "-rootfs", file}, exitIO, "not a directory"},
		{"rootfs with a fifo", []string{"-o", out, "-tag", "a:b", "-rootfs", tree}, exitIO, "fifo is a p"},
		{"output dir missing", []string{"-o", filepath.Join(dir, "gone", "o.tar"), "-tag", "a:b", "-file", file + ":/x"}, exitIO, "write "},
		{"output is a dir", []string{"-o", dir, "-tag", "a:b", "-file", file + ":/x"}, exitIO, "write "},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var stderr bytes.Buffer
			code := run(c.args, &stderr)
			msg := stderr.String()
			if code != c.code || !strings.Contains(msg, c.msg) || strings.Count(msg, "\n") != 1 || !strings.HasPrefix(msg, "mkimage: ") {
				t.Errorf("got exit %d %q, want exit %d and one line holding %q", code, msg, c.code, c.msg)
			}
		})
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != "f" {
			t.Errorf("left behind: %s", e.Name())
		}
	}
}

// TestHelp prints the usage and exits 0.
func TestHelp(t *testing.T) {
	var stderr bytes.Buffer
	if code := run([]string{"-h"}, &stderr); code != exitOK || !strings.Contains(stderr.String(), "-rootfs DIR") {
		t.Errorf("got exit %d %q", code, stderr.String())
	}
}

// TestPushToRegistry pushes the tarball the way `crane push TARBALL REF`
// does (the README's way to put podseq on your registry) to a registry on
// loopback, and pulls it back: the same image, user and entrypoint.
func TestPushToRegistry(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "img.tar")
	mustRun(t, "-o", out, "-tag", "podseq:dev", "-arch", runtime.GOARCH,
		"-file", exe+":/podseq:0755", "-entrypoint", "/podseq", "-user", "65532:65532")

	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	ref := strings.TrimPrefix(srv.URL, "http://") + "/you/podseq:v1.0.0"

	img, err := crane.Load(out) // what crane push reads a tarball with
	if err != nil {
		t.Fatalf("crane load %s: %v", out, err)
	}
	if err := crane.Push(img, ref, crane.Insecure); err != nil {
		t.Fatalf("crane push %s: %v", ref, err)
	}
	pulled, err := crane.Pull(ref, crane.Insecure)
	if err != nil {
		t.Fatalf("pull %s: %v", ref, err)
	}
	want, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	got, err := pulled.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("pulled %s, pushed %s", got, want)
	}
	cfg, err := pulled.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Config.User != "65532:65532" || !slices.Equal(cfg.Config.Entrypoint, []string{"/podseq"}) || cfg.Architecture != runtime.GOARCH {
		t.Errorf("pulled config: user %q, entrypoint %q, arch %s", cfg.Config.User, cfg.Config.Entrypoint, cfg.Architecture)
	}
}
