package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/podseq/podseq/hack/e2e/internal/node"
	"github.com/podseq/podseq/hack/e2e/internal/proc"
)

// A second harness run is refused at once, naming the lock and its holder.
func TestLockRunRefusesSecondRun(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "e2e.lock")
	// The holder is another process, as a second `make e2e` would find it.
	holder := exec.Command("flock", "--close", path, "sleep", "30") // flock itself holds it
	holder.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}        // flock and its sleep share the lock
	if err := holder.Start(); err != nil {
		t.Fatalf("flock(1) (util-linux): %v", err)
	}
	stopHolder := func() { _ = syscall.Kill(-holder.Process.Pid, syscall.SIGKILL); _ = holder.Wait() }
	defer stopHolder()
	if err := proc.Poll(context.Background(), 5*time.Second, 20*time.Millisecond, func() error {
		unlock, err := lockRun(path)
		if err == nil {
			unlock()
			return os.ErrExist // not held yet: try again
		}
		if !strings.Contains(err.Error(), "refusing") || !strings.Contains(err.Error(), path) {
			t.Fatalf("lockRun while held: %v; want a refusal naming %s", err, path)
		}
		return nil
	}); err != nil {
		t.Fatalf("lockRun never saw the lock held: %v", err)
	}
	stopHolder()
	// The kernel drops the lock once the last process holding it is gone,
	// a moment after the kill.
	if err := proc.Poll(context.Background(), 5*time.Second, 20*time.Millisecond, func() error {
		unlock, err := lockRun(path)
		if err == nil {
			unlock()
		}
		return err
	}); err != nil {
		t.Fatalf("lockRun after the holder exited: %v", err)
	}
}

func TestReadStamps(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "stamp")
	// The CNI plugin's `date +%s%N`, and a line as cmd/stamp writes it.
	if err := os.WriteFile(path, []byte("1764590000012345678\n1764590001000000000 2025-12-01T12:00:01Z\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := readStamps(path)
	if err != nil || len(got) != 2 || got[0].Unix() != 1764590000 || got[0].Nanosecond() != 12345678 || got[1].Unix() != 1764590001 {
		t.Errorf("readStamps = %v, %v; want 1764590000.012345678 and 1764590001", got, err)
	}
	if err := os.WriteFile(path, []byte("soon\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := readStamps(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("readStamps(soon): %v, want an error naming the file", err)
	}
}

// firstLine finds the first line holding every word, in lines as
// node.ContainerLogLines returns them.
func TestFirstLine(t *testing.T) {
	t.Parallel()
	lines := []node.LogLine{
		{At: time.Date(2026, 12, 1, 15, 40, 36, 127504339, time.UTC), Text: "podseq: stopping the command reason=POST /quitquitquit"},
		{At: time.Date(2026, 12, 1, 15, 40, 37, 5e8, time.UTC), Text: ""},
		{At: time.Date(2026, 12, 1, 15, 40, 38, 0, time.UTC), Text: "podseq: stopped on request: exiting 0"},
	}
	if l, ok := firstLine(lines, "stopping", "quitquitquit"); !ok || l != lines[0] {
		t.Errorf("firstLine = %+v, %v; want the first line", l, ok)
	}
	if _, ok := firstLine(lines, "stopping", "SIGKILL"); ok {
		t.Error("firstLine found a line lacking one of the words")
	}
}
