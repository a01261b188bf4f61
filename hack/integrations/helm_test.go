package integrations

import (
	"path/filepath"
	"strings"
	"testing"
)

// helmEnv is an environment for a helm of its own: every directory it
// writes in the test's temporary directory, kubectl-podseq first on PATH.
// Plugins go to HELM_DATA_HOME/plugins, the default: Helm 4.3's plugin
// install writes there even when HELM_PLUGINS says otherwise.
func helmEnv(t *testing.T) []string {
	home := t.TempDir()
	return []string{
		"PATH=" + pathWith(t),
		"HOME=" + home,
		"HELM_CONFIG_HOME=" + filepath.Join(home, "config"),
		"HELM_CACHE_HOME=" + filepath.Join(home, "cache"),
		"HELM_DATA_HOME=" + filepath.Join(home, "data"),
		"KUBECONFIG=" + filepath.Join(home, "kubeconfig"),
	}
}

var chart = filepath.Join("testdata", "chart")

// TestHelm4Plugin: Helm 4 installs integrations/helm as a postrenderer/v1
// plugin, and `helm template --post-renderer podseq` gives the chart's pod
// template injected and ordered; --post-renderer-args reach inject.
func TestHelm4Plugin(t *testing.T) {
	t.Parallel()
	helm := tool(t, helm4Pkg)
	env := helmEnv(t)
	r := runCmd(t, ".", env, "", helm, "plugin", "install", filepath.Join(root, "integrations", "helm"))
	if r.code != 0 {
		t.Fatalf("helm plugin install: exit %d: %s%s", r.code, r.stdout, r.stderr)
	}
	r = runCmd(t, ".", env, "", helm, "plugin", "list")
	if !strings.Contains(r.stdout, "podseq") || !strings.Contains(r.stdout, "postrenderer/v1") {
		t.Errorf("helm plugin list:\n%s%s", r.stdout, r.stderr)
	}
	r = runCmd(t, ".", env, "", helm, "template", "r", chart, "--post-renderer", "podseq",
		"--post-renderer-args=--image="+testImage, "--post-renderer-args=--timeout=90s")
	if r.code != 0 {
		t.Fatalf("helm template: exit %d: %s", r.code, r.stderr)
	}
	checkOrdered(t, r.stdout, testImage, "1m30s")
	if !strings.Contains(r.stdout, "kind: Service") {
		t.Errorf("the Service is gone:\n%s", r.stdout)
	}

	// Bad input stops the render: nothing is printed, and helm fails with
	// inject's exit code in its debug log (Helm 4.3 drops the plugin's
	// stderr, inject's line: docs/helm.md).
	r = runCmd(t, ".", env, "", helm, "template", "r", chart, "--post-renderer", "podseq",
		"--post-renderer-args=--after=app=db", "--debug")
	if r.code == 0 || strings.Contains(r.stdout, "kind: Deployment") {
		t.Fatalf("helm template with a bad --after: exit %d, stdout:\n%s", r.code, r.stdout)
	}
	for _, want := range []string{`plugin "podseq" exited with error`, "exitCode=2"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("helm's error lacks %q:\n%s", want, r.stderr)
		}
	}
}

// TestHelm3PostRenderer: Helm 3 runs kubectl-podseq itself as the
// post-renderer, inject -f - as its arguments.
func TestHelm3PostRenderer(t *testing.T) {
	t.Parallel()
	helm := tool(t, helm3Pkg)
	env := helmEnv(t)
	args := []string{"template", "r", chart, "--post-renderer", "kubectl-podseq",
		"--post-renderer-args=inject", "--post-renderer-args=--filename=-"}
	r := runCmd(t, ".", env, "", helm, append(args, "--post-renderer-args=--image="+testImage)...)
	if r.code != 0 {
		t.Fatalf("helm template: exit %d: %s", r.code, r.stderr)
	}
	checkOrdered(t, r.stdout, testImage, "2m")

	// Bad input: helm 3 passes on inject's line.
	r = runCmd(t, ".", env, "", helm, append(args, "--post-renderer-args=--after=app=db")...)
	if r.code == 0 || strings.Contains(r.stdout, "kind: Deployment") {
		t.Fatalf("helm template with a bad --after: exit %d, stdout:\n%s", r.code, r.stdout)
	}
	want := "podseq inject: Deployment/r-web: container db: after.podseq.dev/app: no such container in the pod"
	if !strings.Contains(r.stderr, want) {
		t.Errorf("helm's error %q lacks %q", r.stderr, want)
	}
}
