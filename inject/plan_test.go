package inject

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/podseq/podseq/probes"
)

// injectOne injects a one-document input and returns its root node.
func injectOne(t *testing.T, in string, o Options) (*yaml.Node, *Result) {
	t.Helper()
	res, err := Process([]byte(in), o)
	if err != nil {
		t.Fatalf("inject: %v\ninput:\n%s", err, in)
	}
	doc, err := parseDoc(string(res.Out))
	if err != nil {
		t.Fatal(err)
	}
	return doc.Content[0], res
}

// hookOf returns the podseq gate of container c of a Pod: its startupProbe
// exec command if inject wrote it, else its postStart exec command.
func hookOf(root *yaml.Node, c string) []string {
	for _, key := range []string{"containers", "initContainers"} {
		for _, ctr := range items(path(root, "spec", key)) {
			if str(ctr, "name") == c {
				if sp := path(ctr, "startupProbe", "exec", "command"); ours(sp) {
					return stringsOf(sp) // the native sidecar's gate
				}
				return stringsOf(path(ctr, "lifecycle", "postStart", "exec", "command"))
			}
		}
	}
	return nil
}

// flagOf returns the value of --name=VALUE in argv, and whether it is there.
func flagOf(argv []string, name string) (string, bool) {
	for _, a := range argv {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v, true
		}
		if a == "--" {
			break
		}
	}
	return "", false
}

// TestHTTPSProbeUnverified: a dependency whose readinessProbe is HTTPS with
// a self-signed certificate (kubelet never verifies) is ready for the
// podseq wait that inject derives from it: the hook's argv, run against a
// real TLS server on loopback, exits 0. The same argv without
// --insecure-skip-verify fails, so the test can tell.
func TestHTTPSProbeUnverified(t *testing.T) {
	t.Parallel()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
		}
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the verifying client's handshakes fail
	srv.StartTLS()
	defer srv.Close()
	host, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	in := fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: p
  annotations:
    after.podseq.dev/app: proxy
spec:
  containers:
  - name: app
    image: a
    command: [/app]
  - name: proxy
    image: p
    readinessProbe:
      httpGet: {scheme: HTTPS, host: %q, port: %s, path: healthz}
`, host, port)
	root, _ := injectOne(t, in, Options{Timeout: "3s"})
	hook := hookOf(root, "proxy")
	if !slices.Contains(hook, insecureFlag) || hook[len(hook)-1] != "https://"+net.JoinHostPort(host, port)+"/healthz" {
		t.Fatalf("hook %q: want %s and the https target", hook, insecureFlag)
	}
	bin := podseqBinary(t)
	run := func(argv []string) error {
		cmd := exec.Command(bin, argv[1:]...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	}
	if err := run(hook); err != nil {
		t.Errorf("the derived hook %q fails against a self-signed server: %v", hook, err)
	}
	verified := slices.DeleteFunc(slices.Clone(hook), func(a string) bool { return a == insecureFlag })
	if err := run(verified); err == nil {
		t.Errorf("without %s, %q succeeds: the test cannot tell", insecureFlag, verified)
	}
}

// TestTimeoutFollowsStartupProbe: every wait's deadline is the longest
// startupProbe budget (initialDelaySeconds + failureThreshold x
// periodSeconds, kubelet's defaults 0, 3, 10) of what it waits for, at
// least --timeout; a readinessProbe alone gives --timeout.
func TestTimeoutFollowsStartupProbe(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, probes, floor, want string
	}{
		{"readinessProbe only", "readinessProbe: {tcpSocket: {port: 1}}", "", "2m"},
		{"budget under the floor", "startupProbe: {tcpSocket: {port: 1}, failureThreshold: 5, periodSeconds: 1}", "", "2m"},
		{"kubelet's defaults: 3 x 10s", "startupProbe: {tcpSocket: {port: 1}}", "10s", "30s"},
		{"a database recovering: 60 x 10s", "startupProbe: {tcpSocket: {port: 1}, failureThreshold: 60, periodSeconds: 10}\n    readinessProbe: {tcpSocket: {port: 1}}", "", "10m"},
		{"with an initial delay", "startupProbe: {tcpSocket: {port: 1}, initialDelaySeconds: 30, failureThreshold: 30, periodSeconds: 5}", "1m", "3m"},
		{"an hour and more", "startupProbe: {tcpSocket: {port: 1}, failureThreshold: 3700}", "", "10h16m40s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			in := `apiVersion: v1
kind: Pod
metadata:
  name: p
  annotations:
    after.podseq.dev/app: db
spec:
  containers:
  - {name: app, image: a, command: [/app]}
  - name: db
    image: d
    ` + tc.probes + "\n"
			root, _ := injectOne(t, in, Options{Timeout: tc.floor})
			got, _ := flagOf(hookOf(root, "db"), "timeout")
			var app []string
			for _, c := range items(path(root, "spec", "containers")) {
				if str(c, "name") == "app" {
					app = stringsOf(get(c, "command"))
				}
			}
			own, _ := flagOf(app, "timeout")
			if got != tc.want || own != tc.want {
				t.Errorf("hook --timeout=%s, app's own start --timeout=%s, want %s", got, own, tc.want)
			}
		})
	}
	_, err := Process([]byte(`apiVersion: v1
kind: Pod
metadata: {name: p, annotations: {after.podseq.dev/app: db}}
spec:
  containers:
  - {name: app, image: a}
  - {name: db, image: d, startupProbe: {tcpSocket: {port: 1}, periodSeconds: 0}}
`), Options{})
	if !errors.Is(err, ErrBadInput) || !strings.Contains(err.Error(), `container db: startupProbe.periodSeconds "0": want an integer from 1`) {
		t.Errorf("periodSeconds 0: %v", err)
	}
	if _, err := Process([]byte("{}"), Options{Timeout: "soon"}); !errors.Is(err, ErrBadInput) || !strings.Contains(err.Error(), `timeout "soon"`) {
		t.Errorf("a bad --timeout: %v", err)
	}
}

// TestDefaultContainer: when inject puts another container first, kubectl's
// default container stays the one that was first; an annotation that names
// one already is kept; and nothing is added when the first stays first.
func TestDefaultContainer(t *testing.T) {
	t.Parallel()
	pod := func(ann, order string) string {
		return `apiVersion: v1
kind: Pod
metadata:
  name: p
  annotations:
    after.podseq.dev/app: proxy
` + ann + `spec:
  containers:
` + order
	}
	app := "  - {name: app, image: a, command: [/app]}\n"
	proxy := "  - {name: proxy, image: p, readinessProbe: {tcpSocket: {port: 1}}}\n"
	for _, tc := range []struct {
		name, in string
		mode     Mode
		want     string
	}{
		{"gate moves the proxy first", pod("", app+proxy), Gate, "app"},
		{"already set", pod("    kubectl.kubernetes.io/default-container: proxy\n", app+proxy), Gate, "proxy"},
		{"the first stays first", pod("", proxy+app), Gate, ""},
		{"native takes the first out", pod("", proxy+app), Native, "proxy"},
		{"native keeps the first", pod("", app+proxy), Native, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			root, _ := injectOne(t, tc.in, Options{Mode: tc.mode})
			if got := annotations(root)[DefaultContainerKey]; got != tc.want {
				t.Errorf("%s = %q, want %q", DefaultContainerKey, got, tc.want)
			}
		})
	}
}

// TestInstallContainer: the install init container runs as the image's
// user (no fixed runAsUser, which OpenShift's restricted SCC rejects), as
// non-root, with CPU and memory requests and limits (namespace quotas).
func TestInstallContainer(t *testing.T) {
	t.Parallel()
	root, _ := injectOne(t, `apiVersion: v1
kind: Pod
metadata: {name: p, annotations: {after.podseq.dev/app: proxy}}
spec:
  containers:
  - {name: app, image: a}
  - {name: proxy, image: p, readinessProbe: {tcpSocket: {port: 1}}}
`, Options{})
	ic := items(path(root, "spec", "initContainers"))[0]
	sc := get(ic, "securityContext")
	if get(sc, "runAsUser") != nil || get(sc, "runAsGroup") != nil || str(sc, "runAsNonRoot") != "true" {
		t.Errorf("securityContext: runAsUser %v, runAsGroup %v, runAsNonRoot %q", get(sc, "runAsUser"), get(sc, "runAsGroup"), str(sc, "runAsNonRoot"))
	}
	for _, kind := range []string{"requests", "limits"} {
		for _, r := range []string{"cpu", "memory"} {
			if str(path(ic, "resources", kind), r) == "" {
				t.Errorf("resources.%s.%s missing", kind, r)
			}
		}
	}
}

// TestNativeSidecarStartupProbeKept: a native sidecar's startupProbe stays
// as it is (the kubelet still needs it to pass, and it guards the liveness
// probe), the hook waits for its readinessProbe, and the sidecar stays a
// native sidecar; --undo gives the input back.
func TestNativeSidecarStartupProbeKept(t *testing.T) {
	t.Parallel()
	in := `apiVersion: batch/v1
kind: Job
metadata: {name: j}
spec:
  template:
    metadata:
      annotations: {after.podseq.dev/app: proxy}
    spec:
      restartPolicy: OnFailure
      initContainers:
      - name: proxy
        image: p
        restartPolicy: Always
        startupProbe: {httpGet: {path: /started, port: 15021}, periodSeconds: 1, failureThreshold: 600}
        readinessProbe: {httpGet: {path: /ready, port: 15021}}
      containers:
      - {name: app, image: a, command: [/app]}
`
	res, err := Process([]byte(in), Options{})
	if err != nil {
		t.Fatal(err)
	}
	doc, _ := parseDoc(string(res.Out))
	tmpl, _ := template(doc.Content[0])
	proxy := items(path(tmpl, "spec", "initContainers"))[1]
	if str(proxy, "restartPolicy") != "Always" || str(path(proxy, "startupProbe", "httpGet"), "path") != "/started" {
		t.Errorf("proxy is no longer the native sidecar it was:\n%s", res.Out)
	}
	hook := stringsOf(path(proxy, "lifecycle", "postStart", "exec", "command"))
	if want := []string{Bin, "wait", "--timeout=10m", "http://localhost:15021/ready"}; !slices.Equal(hook, want) {
		t.Errorf("hook %q, want %q", hook, want)
	}
	if !strings.Contains(annotations(tmpl)[InjectedKey], "native: app after proxy (native sidecar's postStart hook and its own command)") {
		t.Errorf("injected: %q", annotations(tmpl)[InjectedKey])
	}
	back, err := Process(res.Out, Options{Undo: true})
	if err != nil || string(back.Out) != in {
		t.Errorf("undo (%v):\n%s", err, back.Out)
	}
}

// TestKustomizeBuildAnnotations: a document that carries kustomize's
// in-build annotations (inject as a KRM function of a kustomization) gets a
// warning when inject changes it, and none otherwise.
func TestKustomizeBuildAnnotations(t *testing.T) {
	t.Parallel()
	doc := `apiVersion: v1
kind: Pod
metadata:
  name: p
  annotations:
    internal.config.kubernetes.io/path: base/pod.yaml
%s
spec:
  containers:
  - {name: app, image: a}
  - {name: proxy, image: p, readinessProbe: {tcpSocket: {port: 1}}}
`
	res, err := Process([]byte(fmt.Sprintf(doc, "    after.podseq.dev/app: proxy")), Options{})
	if err != nil || len(res.Warnings) != 2 || res.Warnings[1] != NativeSidecarsNeed || !strings.HasPrefix(res.Warnings[0], "Pod/p: annotation internal.config.kubernetes.io/path (inside a kustomize build; if this kustomization is a base): inject runs after kustomize build") {
		t.Errorf("changed: %v, warnings %q", err, res.Warnings)
	}
	res, err = Process([]byte(fmt.Sprintf(doc, "    x: y")), Options{})
	if err != nil || len(res.Warnings) != 0 {
		t.Errorf("unchanged: %v, warnings %q", err, res.Warnings)
	}
}

// FuzzExecProbeArgv: an exec probe's argv (any words, with blanks, quotes,
// backslashes, $) reaches podseq wait --exec-probe quoted so that splitting
// it gives the same argv back; an argv that cannot be (a control
// character) is one bad-input line.
func FuzzExecProbeArgv(f *testing.F) {
	for _, seed := range []string{
		"cat\x00/tmp/ready",                // the common case
		"sh\x00-c\x00test -f \"$HOME/x\"",  // a shell script with $ and quotes
		"check\x00it's\x00a b\x00\x00c\\d", // a quote, a blank, an empty word, a backslash
		"pg_isready\x00-h\x00$(hostname)",
		"a\tb", // a tab: quoted
		"two\nlines",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, words string) {
		argv := strings.Split(words, "\x00")
		if !utf8Valid(argv) {
			return
		}
		j, _ := json.Marshal(argv)
		in := `apiVersion: v1
kind: Pod
metadata: {name: p, annotations: {after.podseq.dev/app: proxy}}
spec:
  containers:
  - {name: app, image: a}
  - name: proxy
    image: p
    readinessProbe:
      exec:
        command: ` + string(j) + "\n"
		res, err := Process([]byte(in), Options{})
		if err != nil {
			// JSON leaves C1 control characters (U+0080-U+009F) as they
			// are, and YAML allows none: then the input itself is malformed.
			if !errors.Is(err, ErrBadInput) || strings.Contains(err.Error(), "\n") ||
				!strings.Contains(err.Error(), "exec command") && !strings.Contains(err.Error(), "malformed YAML") {
				t.Fatalf("argv %q: %v", argv, err)
			}
			return
		}
		// YAML reads NEL, LS and PS inside a quoted scalar as line breaks
		// and folds them, where JSON keeps them: what the manifest says is
		// what its YAML parser reads, so that is what must come back.
		var spec struct {
			Spec struct {
				Containers []struct {
					ReadinessProbe struct {
						Exec struct{ Command []string }
					} `yaml:"readinessProbe"`
				}
			}
		}
		if err := yaml.Unmarshal([]byte(in), &spec); err != nil {
			t.Fatal(err)
		}
		argv = spec.Spec.Containers[1].ReadinessProbe.Exec.Command
		doc, err := parseDoc(string(res.Out))
		if err != nil {
			t.Fatal(err)
		}
		v, ok := flagOf(hookOf(doc.Content[0], "proxy"), "exec-probe")
		if !ok {
			t.Fatalf("no --exec-probe in:\n%s", res.Out)
		}
		back, err := probes.SplitCommand(v)
		if err != nil || !slices.Equal(back, argv) {
			t.Fatalf("argv %q became --exec-probe=%s, which splits to %q (%v)", argv, v, back, err)
		}
	})
}

// utf8Valid: JSON (and so the manifest) carries only valid UTF-8 text.
func utf8Valid(ss []string) bool {
	for _, s := range ss {
		if !json.Valid([]byte(fmt.Sprintf("%q", s))) || strings.ToValidUTF8(s, "\uFFFD") != s {
			return false
		}
	}
	return true
}

// TestSuggestedModesWork: every refusal that suggests a mode is followed by
// a run in that mode, which must succeed; the refusals of the inputs that
// no mode fits suggest none.
func TestSuggestedModesWork(t *testing.T) {
	t.Parallel()
	files, _ := filepath.Glob("testdata/bad/*")
	suggested := 0
	for _, f := range files {
		in, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		o := optionsFromHeader(t, strings.SplitN(string(in), "\n", 3)[1])
		_, err = Process(in, o)
		if err == nil {
			t.Fatalf("%s: no error", f)
		}
		_, m, ok := strings.Cut(err.Error(), "; use "+ModeKey+": ")
		if !ok {
			continue
		}
		suggested++
		mode, perr := ParseMode(m)
		if perr != nil {
			t.Fatalf("%s: suggests %q: %v", f, m, perr)
		}
		o.Mode = mode
		if _, err := Process(in, o); err != nil {
			t.Errorf("%s: suggests mode %s, which fails: %v", f, mode, err)
		}
	}
	if suggested < 3 {
		t.Errorf("%d bad inputs suggest a mode, want at least 3", suggested)
	}
	for _, f := range []string{"testdata/bad/job-sidecar-no-command-gate.yaml", "testdata/bad/existing-http-hook-no-command.yaml"} {
		in, _ := os.ReadFile(f)
		if _, err := Process(in, Options{}); err == nil || strings.Contains(err.Error(), "; use "+ModeKey) {
			t.Errorf("%s: %v: want no mode suggested (none works)", f, err)
		}
	}
}

// TestDefaultNativeForNoCommand: inject's default for a long-running pod
// whose dependent has no command makes the dependency a native sidecar held
// by a startupProbe; asked for gate mode, or where the dependency cannot be
// a native sidecar (its own restartPolicy), it writes the hook and one line.
func TestDefaultNativeForNoCommand(t *testing.T) {
	t.Parallel()
	const doc = `apiVersion: v1
kind: Pod
metadata: {name: p, annotations: {after.podseq.dev/app: proxy%s}}
spec:
  containers:
  - {name: app, image: a}
  - {name: proxy, image: p, readinessProbe: {tcpSocket: {port: 1}}%s}
`
	const unsafe = "Pod/p: container app: no command in the manifest and proxy can only be held by its postStart hook, which a kubelet restart skips (kubernetes#122803): app may start before proxy is ready; write app's command in the manifest and inject again"
	for _, tc := range []struct {
		name, ann, field string
		probe            bool
		warnings         []string
	}{
		{"default", "", "", true, []string{NativeSidecarsNeed}},
		{"gate asked for", ", podseq.dev/mode: gate", "", false, []string{unsafe}},
		{"own restartPolicy", "", ", restartPolicy: Never", false, []string{unsafe}},
	} {
		res, err := Process([]byte(fmt.Sprintf(doc, tc.ann, tc.field)), Options{})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		d, err := parseDoc(string(res.Out))
		if err != nil {
			t.Fatal(err)
		}
		root := d.Content[0]
		var proxy *yaml.Node
		for _, key := range []string{"containers", "initContainers"} {
			for _, c := range items(path(root, "spec", key)) {
				if str(c, "name") == "proxy" {
					proxy = c
				}
			}
		}
		gotProbe := ours(path(proxy, "startupProbe", "exec", "command"))
		gotHook := ours(path(proxy, "lifecycle", "postStart", "exec", "command"))
		if gotProbe != tc.probe || gotHook == tc.probe {
			t.Errorf("%s: startupProbe %v, postStart hook %v, want the probe %v:\n%s", tc.name, gotProbe, gotHook, tc.probe, res.Out)
		}
		if !slices.Equal(res.Warnings, tc.warnings) {
			t.Errorf("%s: warnings %q, want %q", tc.name, res.Warnings, tc.warnings)
		}
		if got := get(path(root, "metadata", "annotations"), UnsafeKey) != nil; got == tc.probe {
			t.Errorf("%s: %s set %v", tc.name, UnsafeKey, got)
		}
		if tc.probe {
			if n := path(proxy, "startupProbe", "timeoutSeconds"); n == nil || n.Value != "130" {
				t.Errorf("%s: timeoutSeconds %v, want the wait's 2m + 10s", tc.name, n)
			}
		}
	}
}
