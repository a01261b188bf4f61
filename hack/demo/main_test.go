package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestMain lets the test binary play the fake containers, as the demo's own
// executable does.
func TestMain(m *testing.M) {
	playRole()
	os.Exit(m.Run())
}

// section returns the timeline lines of the demo's section that starts with
// title, up to its verdict ("=> ...").
func section(t *testing.T, out, title string) []string {
	t.Helper()
	i := strings.Index(out, "== "+title)
	if i < 0 {
		t.Fatalf("no section %q in:\n%s", title, out)
	}
	var lines []string
	for _, l := range strings.Split(out[i:], "\n")[1:] {
		lines = append(lines, l)
		if strings.HasPrefix(l, "=> ") {
			return lines
		}
	}
	t.Fatalf("section %q has no verdict:\n%s", title, out)
	return nil
}

// at returns the index of the first line matching re, failing if none does.
func at(t *testing.T, lines []string, re string) int {
	t.Helper()
	r := regexp.MustCompile(re)
	for i, l := range lines {
		if r.MatchString(l) {
			return i
		}
	}
	t.Fatalf("no line matches %s in:\n%s", re, strings.Join(lines, "\n"))
	return -1
}

// The demo, run with a real podseq, shows the order: with podseq the app
// starts only after the sidecar is ready (the hook held it back); without,
// before; and when the sidecar crashes, the hook's first line is podseq's
// failure line, the sidecar is killed and the app starts anyway.
func TestDemoShowsTheOrder(t *testing.T) {
	podseq := filepath.Join(t.TempDir(), "podseq")
	build := exec.Command("go", "build", "-o", podseq, "./cmd/podseq")
	build.Dir = "../.."
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	var out bytes.Buffer
	start := time.Now()
	if err := demo(&out, podseq, time.Second); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	t.Logf("the demo took %s:\n%s", time.Since(start).Round(time.Millisecond), out.String())
	text := out.String()

	with := section(t, text, "1. with podseq")
	hook := at(t, with, `kubelet  sidecar's postStart hook: podseq wait --timeout=10s http://127\.0\.0\.1:\d+/ready$`)
	ready := at(t, with, `sidecar  ready$`)
	returned := at(t, with, `kubelet  postStart hook of sidecar returned 0$`)
	app := at(t, with, `kubelet  start app: `)
	first := at(t, with, `app      started; its first request through the sidecar: 200 OK$`)
	if !(hook < ready && ready < returned && returned < app && app < first) {
		t.Errorf("with podseq, want the hook, the sidecar ready, the hook's return, the app's start, its 200, in that order:\n%s", strings.Join(with, "\n"))
	}
	if at(t, with, `^=> in order: the app started \S+ after its sidecar was ready$`) < 0 {
		t.Error("no verdict")
	}

	without := section(t, text, "2. the same pod without podseq")
	if strings.Contains(strings.Join(without, "\n"), "postStart") {
		t.Errorf("without podseq there is a hook:\n%s", strings.Join(without, "\n"))
	}
	if started, ready := at(t, without, `app      started; `), at(t, without, `sidecar  ready$`); started > ready {
		t.Errorf("without podseq the app started after the sidecar was ready:\n%s", strings.Join(without, "\n"))
	}
	at(t, without, `^=> ORDER BROKEN: the app started \S+ BEFORE its sidecar was ready$`)

	crash := section(t, text, "3. with podseq, and the sidecar crashes")
	crashed := at(t, crash, `sidecar  crashed before it was ready: exit 3$`)
	failed := at(t, crash, `kubelet  postStart hook of sidecar failed \(exit 1\); kubelet keeps its first line:$`)
	line := at(t, crash, `^ +podseq: not ready after 3s: http://127\.0\.0\.1:\d+/ready: connection refused \(the sidecar died: command exited with code 3\) \(\d+ attempts?\)$`)
	killed := at(t, crash, `kubelet  kill container sidecar \(FailedPostStartHook\)`)
	anyway := at(t, crash, `kubelet  start app: fake-app \(anyway, after a failed hook\)$`)
	if !(crashed < failed && failed+1 == line && line < killed && killed < anyway) {
		t.Errorf("with a crash, want the crash, the failed hook and its first line, the kill, the app, in that order:\n%s", strings.Join(crash, "\n"))
	}
	if strings.Contains(strings.Join(crash, "\n"), "sidecar  ready") {
		t.Error("the crashing sidecar turned ready")
	}
}
