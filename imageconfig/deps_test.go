package imageconfig

import (
	"os/exec"
	"strings"
	"testing"
)

// The podseq binary goes into every pod and must stay small: registry
// lookups belong to kubectl-podseq only.
func TestNotInPodBinary(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command")
	}
	out, err := exec.Command("go", "list", "-deps", "github.com/podseq/podseq/cmd/podseq").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v: %s", err, out)
	}
	for _, p := range strings.Fields(string(out)) {
		if strings.Contains(p, "go-containerregistry") || p == "github.com/podseq/podseq/imageconfig" {
			t.Errorf("cmd/podseq depends on %s", p)
		}
	}
}
