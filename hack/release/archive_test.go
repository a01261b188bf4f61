package main

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestDirArchive packs a directory as a release packs an extra directory
// (extraDirs: the Helm plugin's), with LICENSE: its files under their
// paths, executables 0755 and the rest 0644, owned by 0:0, stamped, and the
// same bytes twice.
func TestDirArchive(t *testing.T) {
	dir := t.TempDir()
	for p, mode := range map[string]os.FileMode{"plugin.yaml": 0o600, "bin/post-render.sh": 0o700} {
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, p), []byte(p), mode); err != nil {
			t.Fatal(err)
		}
	}
	files, err := dirFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, archiveFile{Name: "LICENSE", Src: filepath.Join(repoRoot, "LICENSE"), Mode: 0o644})
	epoch := time.Unix(1700000000, 0).UTC()
	out := filepath.Join(t.TempDir(), "x.tar.gz")
	if err := writeTarGz(out, files, epoch); err != nil {
		t.Fatal(err)
	}
	entries := readArchive(t, out)
	var names []string
	for n, e := range entries {
		names = append(names, n)
		if e.uid != 0 || e.gid != 0 || !e.mtime.Equal(epoch) {
			t.Errorf("%s: owned %d:%d, stamped %s", n, e.uid, e.gid, e.mtime)
		}
	}
	slices.Sort(names)
	if want := []string{"LICENSE", "bin/post-render.sh", "plugin.yaml"}; !slices.Equal(names, want) {
		t.Errorf("archive holds %q, want %q", names, want)
	}
	if entries["bin/post-render.sh"].mode != 0o755 || entries["plugin.yaml"].mode != 0o644 {
		t.Errorf("modes: script %o, plugin.yaml %o; want 755 and 644", entries["bin/post-render.sh"].mode, entries["plugin.yaml"].mode)
	}
	again := filepath.Join(t.TempDir(), "x.tar.gz")
	if err := writeTarGz(again, files, epoch); err != nil {
		t.Fatal(err)
	}
	a, b := readFile(t, out), readFile(t, again)
	if string(a) != string(b) {
		t.Error("the same files gave two archives")
	}
	if err := os.Symlink("plugin.yaml", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	if _, err := dirFiles(dir); err == nil {
		t.Error("a symlink was packed without a word")
	}
}
