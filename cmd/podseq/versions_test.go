package main

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/podseq/podseq/inject"
)

// readmePath is README.md, from cmd/podseq.
const readmePath = "../../README.md"

// rangeStatement matches a statement of a range of Kubernetes releases, in
// any of the ways one has been written: "Kubernetes 1.27 and later",
// "Kubernetes 1.29+", "Kubernetes v1.29 or later", "any Kubernetes version".
// A bare "1.26 or later" is not one: Go's, containerd's and CRI-O's ranges
// are written so.
var rangeStatement = regexp.MustCompile(`(?i)any\s+Kubernetes\s+version|Kubernetes\s+v?1\.\d+(\+|\s+(and|or)\s+(later|newer|above))`)

// imageVolumeVersions is the range the image-volume delivery needs, as
// inject.ImageVolumeNeeds (its one home) states it.
const imageVolumeVersions = "Kubernetes 1.35 or later"

// The range of Kubernetes releases podseq supports is stated once, in
// podseq --help (kubernetesVersions), and README.md says the same, in the
// same words, wherever it states a range; the native mode's range likewise.
func TestKubernetesVersionsAgree(t *testing.T) {
	_, help, _ := runInProcess("--help")
	help = strings.Join(strings.Fields(help), " ")
	for _, v := range []string{kubernetesVersions, nativeVersions} {
		if !strings.Contains(help, v) {
			t.Errorf("podseq --help does not state %q", v)
		}
	}
	b, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	readme := strings.Join(strings.Fields(string(b)), " ")
	if !strings.Contains(inject.ImageVolumeNeeds, imageVolumeVersions) {
		t.Errorf("inject.ImageVolumeNeeds does not say %q: %s", imageVolumeVersions, inject.ImageVolumeNeeds)
	}
	if !strings.Contains(readme, "on "+kubernetesVersions) {
		t.Errorf("README.md does not say podseq works on %s", kubernetesVersions)
	}
	for _, m := range rangeStatement.FindAllString(readme, -1) {
		if m != kubernetesVersions && m != nativeVersions && m != imageVolumeVersions {
			t.Errorf("README.md states %q, not %q (podseq), %q (native sidecars) or %q (image volumes)", m, kubernetesVersions, nativeVersions, imageVolumeVersions)
		}
	}
}

// Where README.md says what make demo needs, it names the Go release that
// go.mod asks for.
func TestReadmeDemoNeedsGo(t *testing.T) {
	mod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(mod)
	if m == nil {
		t.Fatal("go.mod has no go directive")
	}
	want := "Go " + string(m[1])
	b, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.Contains(line, "make demo") && strings.Contains(line, "Go") && !regexp.MustCompile(`\b`+regexp.QuoteMeta(want)+`\b`).MatchString(line) {
			t.Errorf("README.md: %q names Go without %s, which go.mod asks for", line, want)
		}
	}
	if !strings.Contains(string(b), "(needs only "+want+")") {
		t.Errorf("README.md's first commands do not say make demo needs only %s", want)
	}
}
