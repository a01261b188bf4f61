package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/podseq/podseq/internal/exitcode"
)

// TestLookCommandRelativeToDot: a -- COMMAND that PATH finds only through
// "." (exec.ErrDot, which exec.LookPath refuses) is not found, 127, as podseq
// run says of the same command (exitcode.ForStart); wait said 126.
func TestLookCommandRelativeToDot(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "podseq-dot-app"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	t.Setenv("PATH", ".")
	_, err := lookCommand([]string{"podseq-dot-app"})
	var ec cli.ExitCoder
	if !errors.As(err, &ec) || ec.ExitCode() != exitcode.NotFound ||
		!strings.HasPrefix(err.Error(), `podseq wait: cannot exec "podseq-dot-app": `) {
		t.Errorf("lookCommand = %v, want exit %d and the cannot-exec line", err, exitcode.NotFound)
	}
}
