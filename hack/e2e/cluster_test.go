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
	if err := poll(context.Background(), 5*time.Second, 20*time.Millisecond, func() error {
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
	if err := poll(context.Background(), 5*time.Second, 20*time.Millisecond, func() error {
		unlock, err := lockRun(path)
		if err == nil {
			unlock()
		}
		return err
	}); err != nil {
		t.Fatalf("lockRun after the holder exited: %v", err)
	}
}

// A component that exits at start fails the start with one line naming it,
// followed by its log's last lines.
func TestClusterStartNamesFailingComponent(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bin := filepath.Join(dir, "etcd")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\necho starting\necho 'fatal: data dir is locked' >&2\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	c := &Cluster{Dir: dir, Bin: map[string]string{"etcd": bin}}
	never := func(context.Context) error { return os.ErrNotExist }
	err := c.start(context.Background(), "etcd", nil, never, 10*time.Second)
	if err == nil {
		t.Fatal("start of a component that exits: want an error")
	}
	msg := err.Error()
	first, rest, _ := strings.Cut(msg, "\n")
	if !strings.HasPrefix(first, "etcd did not come up: ") || !strings.Contains(first, "exit status 3") {
		t.Errorf("first line %q: want it to name etcd and its exit", first)
	}
	if !strings.Contains(rest, "fatal: data dir is locked") {
		t.Errorf("error %q: want the log's last lines", msg)
	}
	// What started is recorded for the teardown, and the teardown is clean.
	if err := c.Stop(); err != nil {
		t.Errorf("Stop: %v", err)
	}
}

func TestLoadComponents(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var lines []string
	for _, c := range append([]string{"kubelet"}, clusterComponents...) {
		p := filepath.Join(dir, c)
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, c+"="+p)
	}
	good := filepath.Join(dir, "good.env")
	if err := os.WriteFile(good, []byte("version=v1.37.2\n"+strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bins, err := LoadComponents(good)
	if err != nil || bins["version"] != "v1.37.2" || bins["etcd"] != filepath.Join(dir, "etcd") {
		t.Fatalf("LoadComponents = %v, %v", bins, err)
	}
	for name, text := range map[string]string{
		"missing component": "version=v1\n" + strings.Join(lines[1:], "\n"),
		"not NAME=PATH":     strings.Join(lines, "\n") + "\njunk\n",
		"not executable":    strings.Join(lines, "\n") + "\ncoredns=" + good + "\n",
	} {
		p := filepath.Join(dir, strings.ReplaceAll(name, " ", "-"))
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadComponents(p); err == nil || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: LoadComponents error %v; want one line", name, err)
		}
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
