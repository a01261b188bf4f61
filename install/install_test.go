package install

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// helperEnv makes the test binary a long-running program instead of the
// tests: the busy executable that Install must replace.
const helperEnv = "PODSEQ_INSTALL_TEST_HELPER"

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
		os.Exit(m.Run())
	case "sleep":
		fmt.Println("running")
		time.Sleep(time.Minute) // killed by the test long before
		os.Exit(0)
	default:
		fmt.Fprintf(os.Stderr, "unknown %s=%q\n", helperEnv, os.Getenv(helperEnv))
		os.Exit(3)
	}
}

// executable returns the test binary's path and content: a real executable
// to install.
func executable(t *testing.T) (string, []byte) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	return exe, data
}

// leftovers lists dir's entries other than the ones named.
func leftovers(t *testing.T, dir string, keep ...string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
outer:
	for _, e := range entries {
		for _, k := range keep {
			if e.Name() == k {
				continue outer
			}
		}
		out = append(out, e.Name())
	}
	return out
}

func TestInstall(t *testing.T) {
	exe, want := executable(t)
	// A source without the execute bits: the copy is 0755 whatever the
	// source's mode and the umask.
	src := filepath.Join(t.TempDir(), "src")
	if err := os.WriteFile(src, want, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, src, file string }{
		{"", exe, DefaultName},
		{"kubexit", src, "kubexit"},
	} {
		dir := t.TempDir()
		res, err := Install(Options{Src: c.src, Dir: dir, Name: c.name})
		if err != nil {
			t.Fatalf("Install(%q): %v", c.name, err)
		}
		dst := filepath.Join(dir, c.file)
		if res.Path != dst || res.Size != int64(len(want)) {
			t.Errorf("Result: got %+v, want {%s %d}", res, dst, len(want))
		}
		fi, err := os.Stat(dst)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != Mode {
			t.Errorf("%s: mode %v, want %v", dst, fi.Mode(), Mode)
		}
		got, err := os.ReadFile(dst)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: content differs from the executable", dst)
		}
		if l := leftovers(t, dir, c.file); l != nil {
			t.Errorf("left behind: %q", l)
		}
	}
}

// TestInstallIsRunnable runs the installed copy: it is a whole executable.
func TestInstallIsRunnable(t *testing.T) {
	exe, _ := executable(t)
	res, err := Install(Options{Src: exe, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(res.Path, "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("running the installed copy: %v: %s", err, out)
	}
}

// TestReplaceBusy replaces a target that is running: writing into it in place
// fails with ETXTBSY, the rename does not.
func TestReplaceBusy(t *testing.T) {
	exe, want := executable(t)
	dir := t.TempDir()
	dst := filepath.Join(dir, DefaultName)
	if _, err := Install(Options{Src: exe, Dir: dir}); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(dst)
	cmd.Env = append(os.Environ(), helperEnv+"=sleep")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	line := make([]byte, len("running\n"))
	if _, err := io.ReadFull(stdout, line); err != nil || string(line) != "running\n" {
		t.Fatalf("helper: got %q, %v", line, err)
	}

	// The control: the target is busy.
	if f, err := os.OpenFile(dst, os.O_WRONLY, 0); !errors.Is(err, syscall.ETXTBSY) {
		if err == nil {
			f.Close()
		}
		t.Fatalf("opening the running executable for writing: got %v, want ETXTBSY", err)
	}

	src := filepath.Join(t.TempDir(), "new")
	newContent := append(bytes.Clone(want), "v2"...) // still a valid ELF file
	if err := os.WriteFile(src, newContent, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Install(Options{Src: src, Dir: dir}); err != nil {
		t.Fatalf("replacing a running executable: %v", err)
	}
	got, err := os.ReadFile(dst)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, newContent) {
		t.Error("the target was not replaced")
	}
	if err := cmd.Process.Signal(syscall.Signal(0)); err != nil {
		t.Errorf("the running old copy died: %v", err)
	}
	if l := leftovers(t, dir, DefaultName); l != nil {
		t.Errorf("left behind: %q", l)
	}
}

func TestBadArguments(t *testing.T) {
	exe, _ := executable(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "podseq"), 0o755); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		o     Options
		usage bool
		msg   string
	}{
		{"missing dir", Options{Src: exe, Dir: filepath.Join(dir, "gone")}, true, "gone: no such directory"},
		{"dir is a file", Options{Src: exe, Dir: file}, true, "file: not a directory"},
		{"target is a directory", Options{Src: exe, Dir: dir}, true, "podseq is a directory"},
		{"empty dir", Options{Src: exe}, true, "DIR is empty"},
		// The flag's name is podseq install's to add: cmd/podseq's
		// TestInstallCommandErrors pins `--name "../x"`.
		{"name with slash", Options{Src: exe, Dir: dir, Name: "a/b"}, true, `name "a/b"`},
		{"name dotdot", Options{Src: exe, Dir: dir, Name: ".."}, true, `name ".."`},
		{"missing source", Options{Src: file + "-gone", Dir: dir, Name: "x"}, false, "no such file or directory"},
		{"source is a dir", Options{Src: dir, Dir: dir, Name: "x"}, false, "not a regular file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Install(c.o)
			if err == nil {
				t.Fatal("no error")
			}
			if isUsage(err) != c.usage || !strings.Contains(err.Error(), c.msg) {
				t.Errorf("got %q (usage %v), want usage %v and %q", err, isUsage(err), c.usage, c.msg)
			}
		})
	}
	if l := leftovers(t, dir, "file", "podseq"); l != nil {
		t.Errorf("left behind: %q", l)
	}
}

// TestWriteFailure injects a disk that fails mid-copy: the error names the
// target, the old target stays, the temporary file goes.
func TestWriteFailure(t *testing.T) {
	exe, _ := executable(t)
	dir := t.TempDir()
	dst := filepath.Join(dir, DefaultName)
	if err := os.WriteFile(dst, []byte("old"), 0o755); err != nil {
		t.Fatal(err)
	}
	var tmpName string
	_, err := install(Options{Src: exe, Dir: dir}, func(w io.Writer) io.Writer {
		tmpName = w.(*os.File).Name()
		return &failingWriter{w: w, left: 4096, err: syscall.ENOSPC}
	})
	if !errors.Is(err, syscall.ENOSPC) || isUsage(err) {
		t.Fatalf("got %v, want ENOSPC, not a usage error", err)
	}
	if want := "install " + dst + ": copy " + exe + ": no space left on device"; err.Error() != want {
		t.Errorf("message: got %q, want %q", err, want)
	}
	if _, err := os.Stat(tmpName); !os.IsNotExist(err) {
		t.Errorf("temporary file %s: %v, want removed", tmpName, err)
	}
	assertOld(t, dst)
	if l := leftovers(t, dir, DefaultName); l != nil {
		t.Errorf("left behind: %q", l)
	}
}

// failingWriter accepts left bytes, then fails with err.
type failingWriter struct {
	w    io.Writer
	left int
	err  error
}

func (f *failingWriter) Write(p []byte) (int, error) {
	if len(p) <= f.left {
		f.left -= len(p)
		return f.w.Write(p)
	}
	n, _ := f.w.Write(p[:f.left])
	f.left = 0
	return n, f.err
}

// assertOld checks that the previous target ("old") is untouched.
func assertOld(t *testing.T, dst string) {
	t.Helper()
	got, err := os.ReadFile(dst)
	if err != nil || string(got) != "old" {
		t.Errorf("the previous %s: got %q, %v, want it untouched", dst, got, err)
	}
}

// mountTmpfs mounts a tmpfs of size bytes on a new directory and unmounts it
// at the end of the test. It needs root (CI and the dev machines run as root).
func mountTmpfs(t *testing.T, size int) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root; TestWriteFailure covers the same path through a seam")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d,mode=0777", size)); err != nil {
		t.Fatalf("mount a tmpfs on %s: %v", dir, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// TestFullDisk installs onto a real file system too small for the binary.
func TestFullDisk(t *testing.T) {
	exe, want := executable(t)
	dir := mountTmpfs(t, 64*1024)
	if len(want) <= 64*1024 {
		t.Fatalf("the test binary (%d bytes) must be larger than the tmpfs", len(want))
	}
	dst := filepath.Join(dir, DefaultName)
	if err := os.WriteFile(dst, []byte("old"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := Install(Options{Src: exe, Dir: dir})
	if !errors.Is(err, syscall.ENOSPC) || isUsage(err) {
		t.Fatalf("got %v, want ENOSPC", err)
	}
	if !strings.HasPrefix(err.Error(), "install "+dst+": ") || strings.Contains(err.Error(), ".tmp-") {
		t.Errorf("message %q: want it to name the target, not the temporary file", err)
	}
	assertOld(t, dst)
	if l := leftovers(t, dir, DefaultName); l != nil {
		t.Errorf("left behind: %q", l)
	}
}

// TestReadOnly installs into a read-only file system (root ignores a
// directory's mode bits, but not a read-only mount).
func TestReadOnly(t *testing.T) {
	exe, _ := executable(t)
	dir := mountTmpfs(t, 1<<20)
	if err := syscall.Mount("", dir, "", syscall.MS_REMOUNT|syscall.MS_RDONLY, ""); err != nil {
		t.Fatalf("remount %s read-only: %v", dir, err)
	}
	_, err := Install(Options{Src: exe, Dir: dir})
	if !errors.Is(err, syscall.EROFS) || isUsage(err) {
		t.Fatalf("got %v, want EROFS", err)
	}
	if want := "install " + filepath.Join(dir, DefaultName) + ": create a temporary file: read-only file system"; err.Error() != want {
		t.Errorf("message: got %q, want %q", err, want)
	}
}

func isUsage(err error) bool {
	var u *UsageError
	return errors.As(err, &u)
}

// TestNameError: a bad Name is a *UsageError that carries a *NameError with
// the name (and the directory in the way), and names no flag.
func TestNameError(t *testing.T) {
	t.Parallel()
	exe, dir := filepath.Join(t.TempDir(), "exe"), t.TempDir()
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "busy"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		want NameError
	}{
		{"a/b", NameError{Name: "a/b"}},
		{"busy", NameError{Name: "busy", Path: filepath.Join(dir, "busy")}},
	} {
		_, err := Install(Options{Src: exe, Dir: dir, Name: tc.name})
		var ne *NameError
		if !isUsage(err) || !errors.As(err, &ne) || *ne != tc.want || strings.Contains(err.Error(), "--") {
			t.Errorf("Name %q: %v (%#v), want a usage error carrying %#v without a flag", tc.name, err, ne, tc.want)
		}
	}
}
