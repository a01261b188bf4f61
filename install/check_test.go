package install

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// noexecDir mounts a tmpfs with noexec (as a node may mount an emptyDir) on
// a fresh directory and returns it; it needs root.
func noexecDir(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a noexec tmpfs needs root")
	}
	dir := filepath.Join(t.TempDir(), "noexec")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_NOEXEC|syscall.MS_NOSUID|syscall.MS_NODEV, "size=256m"); err != nil {
		t.Fatalf("mount a noexec tmpfs: %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// TestCheckNoexec: on a real noexec mount the copy is installed but cannot
// be executed, and the error says so and why; on an ordinary directory the
// same check passes.
func TestCheckNoexec(t *testing.T) {
	exe, _ := executable(t)
	if _, err := Install(Options{Src: exe, Dir: t.TempDir(), Check: []string{"-test.run=^$"}}); err != nil {
		t.Fatalf("ordinary directory: %v", err)
	}
	dir := noexecDir(t)
	res, err := Install(Options{Src: exe, Dir: dir, Check: []string{"-test.run=^$"}})
	var ee *ExecError
	if !errors.As(err, &ee) {
		t.Fatalf("noexec: got %v, want an *ExecError", err)
	}
	dst := filepath.Join(dir, DefaultName)
	if ee.Path != dst || !ee.NoExec || !errors.Is(err, fs.ErrPermission) || res.Path != dst {
		t.Errorf("noexec: %+v (result %+v)", ee, res)
	}
	want := "install " + dst + ": the copy cannot be executed: permission denied (" + dir + " is mounted noexec)"
	if err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("error of more than one line: %q", err)
	}
	// Without Check the copy is installed as before.
	if _, err := Install(Options{Src: exe, Dir: dir, Name: "unchecked"}); err != nil {
		t.Errorf("without Check: %v", err)
	}
}
