package main

import (
	"strings"
	"testing"

	"github.com/podseq/podseq/internal/version"
)

// resourceList wraps the deployment in a ResourceList with a functionConfig spec.
func resourceList(spec string) string { return resourceListOf(deployment, spec) }

// resourceListOf wraps a document in a ResourceList with a functionConfig spec.
func resourceListOf(doc, spec string) string {
	return "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n- " +
		strings.ReplaceAll(strings.TrimSuffix(doc, "\n"), "\n", "\n  ") +
		"\nfunctionConfig:\n  apiVersion: podseq.dev/v1alpha1\n  kind: Inject\n  metadata: {name: podseq}\n  spec:\n" + spec
}

func TestKRM(t *testing.T) {
	t.Parallel()
	code, out, stderr := runInject(t, resourceList("    after: {app: proxy}\n    timeout: 90s\n"), "krm")
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	for _, want := range []string{
		"kind: ResourceList",
		"image: " + version.DefaultImage(), // inject's default image
		"--timeout=1m30s",
		"after.podseq.dev/app: proxy",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestKRMWarning(t *testing.T) {
	t.Parallel()
	in := resourceListOf(strings.Replace(deployment, "        command: [/app]\n", "", 1), "    after: {app: proxy}\n    mode: gate\n")
	code, out, stderr := runInject(t, in, "krm")
	if code != 0 || !strings.Contains(out, "severity: warning") {
		t.Fatalf("exit %d, output:\n%s", code, out)
	}
	if want := "podseq krm: warning: Deployment/web: container app: no command in the manifest"; !strings.HasPrefix(stderr, want) || strings.Count(stderr, "\n") != 1 {
		t.Errorf("stderr %q, want one line starting %q", stderr, want)
	}
}

// TestKRMBadInput: bad input exits 2 with one line on stderr; a bad
// functionConfig also gives the ResourceList back with one error result.
func TestKRMBadInput(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, stdin string
		args        []string
		want        string
		result      bool
	}{
		{"unknown field", resourceList("    after: {app: proxy}\n    retries: 3\n"), []string{"krm"},
			"podseq krm: functionConfig spec.retries: unknown field", true},
		{"bad mode", resourceList("    mode: fast\n"), []string{"krm"}, `podseq krm: functionConfig spec.mode: unknown mode "fast"`, true},
		{"not a ResourceList", deployment, []string{"krm"}, `podseq krm: not a ResourceList: apiVersion "apps/v1", kind "Deployment"`, false},
		{"empty", "", []string{"krm"}, "podseq krm: empty input", false},
		{"argument", "", []string{"krm", "x"}, "podseq krm: no arguments", false},
		{"flag", "", []string{"krm", "--after", "a=b"}, "podseq krm: unknown flag --after", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, out, stderr := runInject(t, tc.stdin, tc.args...)
			if code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
			if !strings.HasPrefix(stderr, tc.want) || strings.Count(stderr, "\n") != 1 {
				t.Errorf("stderr %q, want one line starting %q", stderr, tc.want)
			}
			if tc.result != strings.Contains(out, "severity: error") {
				t.Errorf("stdout:\n%s", out)
			}
		})
	}
}

func TestKRMWriteError(t *testing.T) {
	t.Parallel()
	var errb strings.Builder
	inProcess.Lock()
	defer inProcess.Unlock()
	code := run([]string{"kubectl-podseq", "krm"}, strings.NewReader(resourceList("    after: {app: proxy}\n")), failWriter{}, &errb)
	if code != 1 || !strings.HasPrefix(errb.String(), "podseq krm: write the output:") {
		t.Errorf("exit %d, stderr %q", code, errb.String())
	}
}

// TestKRMHelp: krm --help is the text in testdata/krm-help.txt, on stdout.
func TestKRMHelp(t *testing.T) {
	helpGolden(t, "testdata/krm-help.txt", "TestKRMHelp", "krm", "--help")
}
