package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/podseq/podseq/internal/exitcode"
)

// TestWebhookRunsKubectlPodseq: podseq webhook is kubectl-podseq webhook,
// found next to podseq, with its arguments as given; without it, one line
// says what to install. Not parallel: it writes an executable and runs
// it, and a fork by a parallel test in between would hold the file open for
// writing in its child (ETXTBSY, golang/go#22315).
func TestWebhookRunsKubectlPodseq(t *testing.T) {
	dir, self := podseqAlone(t)
	cmd := exec.Command(self, "webhook", "--listen", ":9443")
	cmd.Env = []string{"PATH=/nonexistent"}
	out, err := cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); code != exitcode.Usage ||
		!strings.HasPrefix(string(out), "podseq webhook: webhook is the command kubectl-podseq, which is neither next to podseq nor on $PATH") {
		t.Fatalf("without kubectl-podseq: exit %d (%v), %q", code, err, out)
	}
	if err := os.WriteFile(filepath.Join(dir, "kubectl-podseq"), []byte("#!/bin/sh\nprintf '%s\\n' \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	got, err := exec.Command(self, "webhook", "certs", "--renew").Output()
	if err != nil {
		t.Fatalf("podseq webhook: %v", err)
	}
	if want := "webhook\ncerts\n--renew\n"; string(got) != want {
		t.Errorf("kubectl-podseq got arguments %q, want %q", got, want)
	}
	// Help among the arguments is kubectl-podseq's to give: its commands
	// (webhook certs) have their own.
	for _, args := range [][]string{{"webhook", "certs", "--help"}, {"webhook", "-h", "x"}, {"inject", "-f", "x", "--help"}} {
		got, err := exec.Command(self, args...).Output()
		if want := strings.Join(args, "\n") + "\n"; err != nil || string(got) != want {
			t.Errorf("podseq %q: kubectl-podseq got arguments %q (%v), want %q", args, got, err, want)
		}
	}
}
