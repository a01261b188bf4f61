package main

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestMinorVersion(t *testing.T) {
	t.Parallel()
	for v, want := range map[string]int{"v1.27.16": 27, "v1.37.2": 37, "1.34.4": 34, "v1.38.0-beta.0": 38} {
		if got, err := minorVersion(v); err != nil || got != want {
			t.Errorf("minorVersion(%q) = %d, %v; want %d", v, got, err, want)
		}
	}
	for _, v := range []string{"", "v2.4.2", "v1", "v1.x.0", "unknown"} {
		if got, err := minorVersion(v); err == nil {
			t.Errorf("minorVersion(%q) = %d; want an error", v, got)
		}
	}
}

func TestBinaryVersion(t *testing.T) {
	t.Parallel()
	for out, want := range map[string]string{
		"Kubernetes v1.27.16": "v1.27.16",
		"containerd github.com/containerd/containerd 1.6.20~ds1 1.6.20~ds1-1+b1": "1.6.20~ds1",
		"containerd github.com/containerd/containerd/v2 v2.4.2 ":                 "v2.4.2",
	} {
		got, err := binaryVersion("/bin/sh", "-c", "echo '"+out+"'")
		if err != nil || got != want {
			t.Errorf("binaryVersion of %q = %q, %v; want %q", out, got, err, want)
		}
	}
	if got, err := binaryVersion("/bin/sh", "-c", "echo no version here"); err == nil {
		t.Errorf("binaryVersion without a version = %q; want an error", got)
	}
}

func TestNotApplicable(t *testing.T) {
	t.Parallel()
	s := Scenario{Name: "native-x", MinMinor: nativeSidecarsSince}
	if s.appliesTo(28) || !s.appliesTo(29) || !(Scenario{}).appliesTo(27) {
		t.Error("appliesTo: want false below MinMinor, true from it, true for MinMinor 0")
	}
	results := []Result{
		{Scenario: Scenario{Name: "order"}, Took: 2 * time.Second},
		{Scenario: s, NotApplicable: needs(s.MinMinor)},
		{Scenario: Scenario{Name: "timeout"}, Err: errors.New("hook ran 1s")},
	}
	sum := summary(results, time.Second, 10*time.Second)
	for _, want := range []string{"| order | PASS | 2.0 s |", "| native-x | n/a (needs v1.29+) | - |", "| timeout | **FAIL** |"} {
		if !strings.Contains(sum, want) {
			t.Errorf("summary lacks %q:\n%s", want, sum)
		}
	}
	if !strings.HasSuffix(sum, "\n1 of 3 scenarios failed:\nFAIL timeout: hook ran 1s\n") {
		t.Errorf("summary does not end by naming the failed scenario:\n%s", sum)
	}
	if ok := summary(results[:2], time.Second, 10*time.Second); strings.Contains(ok, "failed") {
		t.Errorf("summary of passing results names a failure:\n%s", ok)
	}
	for i, want := range []string{"PASS", "n/a (needs v1.29+)", "FAIL"} {
		if got := results[i].Status(); got != want {
			t.Errorf("%s: Status() = %q, want %q", results[i].Scenario.Name, got, want)
		}
	}
}

func TestMatrix(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	date := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	old := newReport("oldest", "v1.27.16", "1.6.20~ds1", date, time.Second, 60*time.Second, []Result{
		{Scenario: Scenario{Name: "order"}},
		{Scenario: Scenario{Name: "native-hook", MinMinor: 29}, NotApplicable: needs(29)},
		{Scenario: Scenario{Name: "compare"}, Figures: []Figure{{"push median", "80 ms"}, {"native-hook median", needs(29)}}},
	})
	newest := newReport("newest", "v1.37.2", "v2.4.2", date, time.Second, 70*time.Second, []Result{
		{Scenario: Scenario{Name: "order"}, Err: errors.New("late")},
		{Scenario: Scenario{Name: "native-hook"}},
		{Scenario: Scenario{Name: "compare"}, Figures: []Figure{{"push median", "90 ms"}, {"native-hook median", "700 ms"}}},
	})
	for name, r := range map[string]Report{"oldest": old, "newest": newest} {
		if err := r.write(filepath.Join(dir, name+".json")); err != nil {
			t.Fatal(err)
		}
	}
	var b strings.Builder
	code := printMatrix(&b, []string{"oldest=" + filepath.Join(dir, "oldest.json"), "newest=" + filepath.Join(dir, "newest.json"),
		"v1.34=" + filepath.Join(dir, "missing.json")})
	if code != 1 {
		t.Errorf("printMatrix with a FAIL and a missing file: code %d, want 1", code)
	}
	got := b.String()
	for _, want := range []string{
		"| scenario | oldest (kubelet v1.27.16, containerd 1.6.20~ds1) | newest (kubelet v1.37.2, containerd v2.4.2) | v1.34 |\n|---|---|---|---|\n",
		"| order | PASS | FAIL | no results |\n",
		"| native-hook | n/a (needs v1.29+) | PASS | no results |\n",
		"| compare: push median | 80 ms | 90 ms | no results |\n",
		"| compare: native-hook median | n/a (needs v1.29+) | 700 ms | no results |\n",
		"| harness run (setup) | 60 s (1.0 s) | 70 s (1.0 s) | no results |\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("matrix lacks %q:\n%s", want, got)
		}
	}
	if code := printMatrix(&b, []string{"no-equals"}); code != 2 {
		t.Errorf("printMatrix(no-equals) = %d, want 2", code)
	}
}
