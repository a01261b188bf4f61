package cluster

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

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
