package integrations

import (
	"path/filepath"
	"strings"
	"testing"
)

var kustomizations = filepath.Join("testdata", "kustomize")

// TestKustomizeKRMFunction: kustomize runs `kubectl-podseq krm` as a KRM
// exec function (a transformer whose config is an Inject), and its build
// gives the pod template injected and ordered, the other resources as they
// were.
func TestKustomizeKRMFunction(t *testing.T) {
	t.Parallel()
	kustomize := tool(t, kustomizePkg)
	env := []string{"PATH=" + pathWith(t)}
	r := runCmd(t, ".", env, "", kustomize, "build", "--enable-alpha-plugins", "--enable-exec", filepath.Join(kustomizations, "base"))
	if r.code != 0 {
		t.Fatalf("kustomize build: exit %d: %s", r.code, r.stderr)
	}
	checkOrdered(t, r.stdout, testImage, "1m30s")
	if d := deploymentIn(t, r.stdout); d.Name != "shop-web" {
		t.Errorf("Deployment %s, want shop-web (namePrefix)", d.Name)
	}
	for _, want := range []string{"kind: Service", "name: shop-web"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "config.kubernetes.io/") {
		t.Errorf("kustomize's own annotations leaked:\n%s", r.stdout)
	}

	// Without --enable-exec, kustomize 5.8 skips the exec function without
	// a word: the build succeeds with no podseq in it (docs/kustomize.md
	// warns of this).
	r = runCmd(t, ".", env, "", kustomize, "build", "--enable-alpha-plugins", filepath.Join(kustomizations, "base"))
	if r.code != 0 {
		t.Fatalf("kustomize build without --enable-exec: exit %d: %s", r.code, r.stderr)
	}
	if d := deploymentIn(t, r.stdout); d.Spec.Template.Annotations["podseq.dev/injected"] != "" || len(d.Spec.Template.Spec.InitContainers) != 0 {
		t.Errorf("kustomize build without --enable-exec ran the function:\n%s", r.stdout)
	}
}

// TestKustomizeKRMBadConfig: a functionConfig with a field inject does not
// know stops the build, and kustomize's stderr carries the function's line.
func TestKustomizeKRMBadConfig(t *testing.T) {
	t.Parallel()
	kustomize := tool(t, kustomizePkg)
	r := runCmd(t, ".", []string{"PATH=" + pathWith(t)}, "", kustomize, "build", "--enable-alpha-plugins", "--enable-exec", filepath.Join(kustomizations, "bad"))
	if r.code == 0 || strings.Contains(r.stdout, "kind: Deployment") {
		t.Fatalf("kustomize build: exit %d, stdout:\n%s", r.code, r.stdout)
	}
	want := "podseq krm: functionConfig spec.retries: unknown field (want after, ready, mode, image, timeout, undo)"
	if !strings.Contains(r.stderr, want) {
		t.Errorf("kustomize's stderr lacks %q:\n%s", want, r.stderr)
	}
	t.Logf("kustomize on a bad functionConfig: exit %d:\n%s", r.code, r.stderr)
}
