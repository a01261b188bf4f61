package termination

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWrite(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	log := filepath.Join(dir, "termination-log")
	if err := Write(log, "not created", false); !errors.Is(err, ErrNoLog) {
		t.Errorf("Write to a missing default log: %v, want ErrNoLog", err)
	}
	if _, err := os.Stat(log); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Write without create made %s", log)
	}
	if err := os.WriteFile(log, nil, 0o666); err != nil {
		t.Fatal(err)
	}
	if err := Write(log, "podseq: not ready after 5s: tcp://db:5432", false); err != nil {
		t.Fatalf("Write: %v", err)
	}
	if err := Write(log, "podseq run: stopped on request", false); !errors.Is(err, ErrKept) {
		t.Errorf("second Write: %v, want ErrKept", err)
	}
	if b, _ := os.ReadFile(log); string(b) != "podseq: not ready after 5s: tcp://db:5432\n" {
		t.Errorf("log holds %q, want the first message", b)
	}
	long := filepath.Join(dir, "long")
	if err := Write(long, strings.Repeat("é", 400), true); err != nil {
		t.Fatalf("Write with create: %v", err)
	}
	b, _ := os.ReadFile(long)
	if len(b) > MaxMessage+1 || !strings.HasSuffix(string(b), "...\n") || !strings.HasPrefix(string(b), "éé") {
		t.Errorf("long message: %d bytes %q…, want at most %d, cut with ...", len(b), b[:10], MaxMessage)
	}
	if err := Write(filepath.Join(dir, "no", "such", "dir"), "x", true); err == nil || errors.Is(err, ErrNoLog) {
		t.Errorf("Write under a missing directory with create: %v, want an error naming it", err)
	}
}

// TestRecord pins what every podseq writer of a termination message shares:
// no path and a missing default are nothing to report, a kept message is
// ErrKept, and a message goes where Write puts it.
func TestRecord(t *testing.T) {
	t.Parallel()
	if err := Record("", "podseq: x", true); err != nil {
		t.Errorf("no path: %v, want nil", err)
	}
	missing := filepath.Join(t.TempDir(), "termination-log")
	if err := Record(missing, "podseq: x", false); err != nil {
		t.Errorf("missing default: %v, want nil", err)
	}
	if _, err := os.Stat(missing); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing default was created: %v", err)
	}
	if err := Record(missing, "podseq: first", true); err != nil {
		t.Fatalf("given path: %v", err)
	}
	if err := Record(missing, "podseq: second", true); !errors.Is(err, ErrKept) {
		t.Errorf("second message: %v, want ErrKept", err)
	}
	if b, _ := os.ReadFile(missing); string(b) != "podseq: first\n" {
		t.Errorf("log holds %q, want the first message", b)
	}
	if err := Record(filepath.Join(missing, "sub"), "podseq: x", true); err == nil || errors.Is(err, ErrKept) {
		t.Errorf("unwritable path: %v, want an I/O error", err)
	}
}
