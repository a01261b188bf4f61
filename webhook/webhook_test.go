package webhook

import (
	"bytes"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/podseq/podseq/inject"
)

// webPod is a pod of a Deployment as the API server sends it: defaulted,
// named by generateName only.
const webPod = `{"apiVersion":"v1","kind":"Pod","metadata":{"generateName":"web-5d9c-","namespace":"shop",
"labels":{"app":"web"},"annotations":{"after.podseq.dev/app":"proxy","example.com/a~b":"kept"}},
"spec":{"containers":[
{"name":"app","image":"busybox:1.36","command":["sh","-c","echo hi"],"imagePullPolicy":"IfNotPresent","terminationMessagePath":"/dev/termination-log"},
{"name":"proxy","image":"busybox:1.36","command":["httpd","-f"],"imagePullPolicy":"IfNotPresent",
 "ports":[{"name":"http","containerPort":8080,"protocol":"TCP"}],
 "readinessProbe":{"httpGet":{"path":"/ready","port":"http","scheme":"HTTP"},"periodSeconds":1,"timeoutSeconds":1}}],
"restartPolicy":"Always","terminationGracePeriodSeconds":30,"dnsPolicy":"ClusterFirst"}}`

func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	x, err := decodeObject(a)
	if err != nil {
		t.Fatal(err)
	}
	y, err := decodeObject(b)
	if err != nil {
		t.Fatal(err)
	}
	return reflect.DeepEqual(x, y)
}

// defaulted adds to a patched pod what the API server defaults in
// containers the webhook added, as it does before it calls the webhook
// again.
func defaulted(t *testing.T, pod []byte) []byte {
	t.Helper()
	m, err := decodeObject(pod)
	if err != nil {
		t.Fatal(err)
	}
	spec := m["spec"].(map[string]any)
	for _, key := range []string{"initContainers", "containers"} {
		cs, _ := spec[key].([]any)
		for _, c := range cs {
			c := c.(map[string]any)
			if _, ok := c["terminationMessagePath"]; !ok {
				c["terminationMessagePath"] = "/dev/termination-log"
				c["terminationMessagePolicy"] = "File"
			}
		}
	}
	for _, v := range spec["volumes"].([]any) {
		v := v.(map[string]any)
		if ed, ok := v["emptyDir"].(map[string]any); ok && len(ed) == 0 {
			v["emptyDir"] = map[string]any{}
		}
	}
	out, _ := json.Marshal(m)
	return out
}

// TestMutate: a pod asking for an order gets the plan of inject as a
// JSONPatch with the request's uid; the patched pod, reviewed again
// (reinvocation) with the API server's defaults, gets an empty patch; a
// container another webhook added since is planned again.
func TestMutate(t *testing.T) {
	ts := startServer(t, Config{})
	resp := ts.mutate(t, PathMutate, "uid-1", webPod)
	if !resp.Allowed || resp.PatchType == nil || *resp.PatchType != PatchTypeJSON || len(resp.Patch) == 0 || len(resp.Warnings) != 0 {
		t.Fatalf("answer %+v: want allowed with a JSONPatch and no warning", resp)
	}
	patched := applyPatch(t, []byte(webPod), resp.Patch)
	plan, err := inject.Process([]byte(webPod), inject.Options{Image: "podseq:test"})
	if err != nil {
		t.Fatal(err)
	}
	if !sameJSON(t, patched, plan.Out) {
		t.Fatalf("patched pod:\n%s\nwant inject's plan:\n%s", patched, plan.Out)
	}
	if !strings.Contains(string(resp.Patch), `"/metadata/annotations/podseq.dev~1injected"`) {
		t.Errorf("patch %s: annotations are not set key by key with escaped keys", resp.Patch)
	}

	again := ts.mutate(t, PathMutate, "uid-2", string(defaulted(t, patched)))
	if len(again.Patch) != 0 || !again.Allowed {
		t.Fatalf("reinvoked on its own unchanged plan: patch %s", again.Patch)
	}

	// Another webhook adds a mesh proxy, and the user asked for it.
	m, _ := decodeObject(defaulted(t, patched))
	spec := m["spec"].(map[string]any)
	spec["containers"] = append(spec["containers"].([]any), map[string]any{"name": "mesh", "image": "mesh:1",
		"readinessProbe": map[string]any{"tcpSocket": map[string]any{"port": json.Number("15021")}}})
	m["metadata"].(map[string]any)["annotations"].(map[string]any)["after.podseq.dev/app"] = "proxy,mesh"
	added, _ := json.Marshal(m)
	third := ts.mutate(t, PathMutate, "uid-3", string(added))
	if len(third.Patch) == 0 {
		t.Fatal("a container added since: no patch")
	}
	var out struct {
		Spec struct {
			Containers []struct {
				Name      string
				Lifecycle any
			}
		}
	}
	if err := json.Unmarshal(applyPatch(t, added, third.Patch), &out); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range out.Spec.Containers {
		names = append(names, c.Name)
	}
	if strings.Join(names, ",") != "proxy,mesh,app" || out.Spec.Containers[1].Lifecycle == nil {
		t.Errorf("containers %v: want proxy,mesh,app with mesh gated", names)
	}
}

// TestMutateCannot: what the webhook cannot do admits the pod unordered,
// with a warning naming the pod, the container and the reason and the same
// in an annotation; strict denies with the same line; once the container
// is there (another webhook added it) the pod is ordered and the
// annotation goes.
func TestMutateCannot(t *testing.T) {
	ts := startServer(t, Config{})
	pod := strings.Replace(webPod, `"after.podseq.dev/app":"proxy"`, `"after.podseq.dev/app":"mesh-proxy"`, 1)
	resp := ts.mutate(t, PathMutate, "u1", pod)
	const line = "podseq: pod shop/web-5d9c-*: container mesh-proxy: after.podseq.dev/app: no such container in the pod (containers: app, proxy)"
	if !resp.Allowed || len(resp.Warnings) != 1 || resp.Warnings[0] != line {
		t.Fatalf("answer %+v: want allowed with the warning %q", resp, line)
	}
	patched := applyPatch(t, []byte(pod), resp.Patch)
	m, _ := decodeObject(patched)
	if got := annotationsOf(m)[NotInjectedKey]; got != strings.TrimPrefix(line, "podseq: pod shop/web-5d9c-*: ") {
		t.Errorf("annotation %s: %q", NotInjectedKey, got)
	}
	delete(annotationsOf(m), NotInjectedKey)
	if b, _ := json.Marshal(m); !sameJSON(t, b, []byte(pod)) {
		t.Errorf("the pod changed beyond the annotation:\n%s", patched)
	}

	for _, strict := range []*testServer{ts, startServer(t, Config{Strict: true})} {
		path := PathMutateStrict
		if strict != ts {
			path = PathMutate
		}
		deny := strict.mutate(t, path, "u2", pod)
		if deny.Allowed || deny.Result == nil || deny.Result.Message != line || deny.Result.Code != http.StatusForbidden || len(deny.Patch) != 0 {
			t.Errorf("strict (%s): %+v, want denied with %q", path, deny, line)
		}
	}

	// The mesh webhook adds mesh-proxy; reinvoked, podseq orders the pod.
	m, _ = decodeObject(patched)
	spec := m["spec"].(map[string]any)
	spec["containers"] = append(spec["containers"].([]any), map[string]any{"name": "mesh-proxy", "image": "mesh:1",
		"readinessProbe": map[string]any{"tcpSocket": map[string]any{"port": json.Number("15021")}}})
	added, _ := json.Marshal(m)
	ok := ts.mutate(t, PathMutate, "u3", string(added))
	if len(ok.Warnings) != 0 || len(ok.Patch) == 0 {
		t.Fatalf("with mesh-proxy there: %+v", ok)
	}
	final, _ := decodeObject(applyPatch(t, added, ok.Patch))
	if _, has := annotationsOf(final)[NotInjectedKey]; has {
		t.Error("the not-injected annotation stayed once the pod was ordered")
	}
	if _, has := annotationsOf(final)[inject.InjectedKey]; !has {
		t.Error("no injected annotation")
	}
}

// TestMutateNoOrder: a pod that asks for nothing is admitted as it is.
func TestMutateNoOrder(t *testing.T) {
	ts := startServer(t, Config{})
	pod := `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"shop"},"spec":{"containers":[{"name":"a","image":"a:1"}]}}`
	if r := ts.mutate(t, PathMutate, "u", pod); !r.Allowed || len(r.Patch) != 0 || len(r.Warnings) != 0 {
		t.Errorf("%+v", r)
	}
}

// TestBadRequests: each bad request gets its status and one line, and is
// counted as an error; the requests that are reviews but not of a Pod's
// creation are admitted unchanged with a message.
func TestBadRequests(t *testing.T) {
	ts := startServer(t, Config{MaxBodyBytes: 64 << 10})
	review := func(mod func(string) string) []byte { return []byte(mod(string(reviewOf("u", webPod)))) }
	cases := []struct {
		name, method, ctype string
		body                []byte
		code                int
		want                string
	}{
		{"GET", http.MethodGet, "", nil, 405, "method GET not allowed"},
		{"text", http.MethodPost, "text/plain", reviewOf("u", webPod), 415, `content type "text/plain": want application/json`},
		{"no type", http.MethodPost, "", reviewOf("u", webPod), 415, "want application/json"},
		{"too big", http.MethodPost, "application/json", bytes.Repeat([]byte(" "), 65<<10), 413, "the limit is"},
		{"not JSON", http.MethodPost, "application/json", []byte("apiVersion: v1"), 400, "not an AdmissionReview: malformed JSON"},
		{"two values", http.MethodPost, "application/json", append(reviewOf("u", webPod), "{}"...), 400, "more than one JSON value"},
		{"a Pod", http.MethodPost, "application/json", []byte(webPod), 400, `not an AdmissionReview: apiVersion "v1", kind "Pod"`},
		{"v1beta1", http.MethodPost, "application/json", review(func(s string) string { return strings.Replace(s, "admission.k8s.io/v1", "admission.k8s.io/v1beta1", 1) }), 400, "want admission.k8s.io/v1 AdmissionReview"},
		{"no request", http.MethodPost, "application/json", []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`), 400, "without a request"},
		{"no uid", http.MethodPost, "application/json", review(func(s string) string { return strings.Replace(s, `"uid":"u"`, `"uid":""`, 1) }), 400, "no uid"},
		{"wrong type", http.MethodPost, "application/json", []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":7}}`), 400, "field request.uid: want a JSON string"},
	}
	for _, c := range cases {
		req, _ := http.NewRequest(c.method, ts.url+PathMutate, bytes.NewReader(c.body))
		if c.ctype != "" {
			req.Header.Set("Content-Type", c.ctype)
		}
		resp, err := ts.client.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.code || !strings.Contains(b.String(), c.want) || strings.Count(b.String(), "\n") != 1 || !strings.HasPrefix(b.String(), "podseq: ") {
			t.Errorf("%s: %d %q, want %d and one line with %q", c.name, resp.StatusCode, b.String(), c.code, c.want)
		}
	}
	// Reviews of something else: admitted unchanged, with a message.
	others := map[string]func(string) string{
		"Deployment": func(s string) string {
			return strings.Replace(strings.Replace(s, `"kind":"Pod"}`, `"kind":"Deployment"}`, 1), `"resource":"pods"`, `"resource":"deployments"`, 1)
		},
		"UPDATE": func(s string) string { return strings.Replace(s, `"CREATE"`, `"UPDATE"`, 1) },
		"subresource": func(s string) string {
			return strings.Replace(s, `"operation"`, `"subResource":"ephemeralcontainers","operation"`, 1)
		},
	}
	for name, mod := range others {
		code, b := ts.post(t, PathMutate, "application/json", review(mod))
		var r AdmissionReview
		if err := json.Unmarshal(b, &r); code != 200 || err != nil || r.Response == nil || !r.Response.Allowed ||
			len(r.Response.Patch) != 0 || r.Response.Result == nil || !strings.Contains(r.Response.Result.Message, "admitted unchanged") {
			t.Errorf("%s: %d %s", name, code, b)
		}
	}
	// A dry run is planned as any other (sideEffects: None).
	dry := review(func(s string) string { return strings.Replace(s, `"dryRun":false`, `"dryRun":true`, 1) })
	code, b := ts.post(t, PathMutate, "application/json", dry)
	var r AdmissionReview
	if err := json.Unmarshal(b, &r); code != 200 || err != nil || len(r.Response.Patch) == 0 {
		t.Errorf("dry run: %d %s", code, b)
	}
	want := float64(len(cases) + len(others))
	if got := testutil.ToFloat64(ts.s.m.reviews[ResultError]); got != want {
		t.Errorf("%s errors counted: %v, want %v", ResultError, got, want)
	}
	if got := testutil.ToFloat64(ts.s.m.reviews[ResultPatched]); got != 1 {
		t.Errorf("patched: %v, want 1 (the dry run)", got)
	}
}

// TestMetrics: reviews by result and the latency histogram, with names
// that pass Prometheus' lint, every result present from the start.
func TestMetrics(t *testing.T) {
	ts := startServer(t, Config{})
	ts.mutate(t, PathMutate, "a", webPod)
	ts.mutate(t, PathMutate, "b", strings.Replace(webPod, `:"proxy"`, `:"nope"`, 1))
	ts.mutate(t, PathMutateStrict, "c", strings.Replace(webPod, `:"proxy"`, `:"nope"`, 1))
	resp, err := ts.client.Get(ts.url + PathMetrics)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`podseq_webhook_reviews_total{result="patched"} 1`,
		`podseq_webhook_reviews_total{result="warned"} 1`,
		`podseq_webhook_reviews_total{result="denied"} 1`,
		`podseq_webhook_reviews_total{result="unchanged"} 0`,
		`podseq_webhook_reviews_total{result="error"} 0`,
		`podseq_webhook_review_duration_seconds_count 3`,
		`podseq_webhook_certificate_loads_total{result="success"} 1`,
		`podseq_webhook_certificate_expiry_timestamp_seconds `,
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	problems, err := testutil.GatherAndLint(ts.s.m.reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "podseq_") {
			t.Errorf("lint: %s: %s", p.Metric, p.Text)
		}
	}
}

func TestProbes(t *testing.T) {
	ts := startServer(t, Config{})
	for path, want := range map[string]int{PathHealthz: 200, PathReadyz: 200, "/nope": 404} {
		resp, err := ts.client.Get(ts.url + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", path, resp.StatusCode, want)
		}
	}
	if code, _ := ts.post(t, PathReadyz, "text/plain", nil); code != http.StatusMethodNotAllowed {
		t.Errorf("POST /readyz: %d", code)
	}
}

func TestPointerAndDiff(t *testing.T) {
	if got := Pointer("a/b~c"); got != "a~1b~0c" {
		t.Errorf("Pointer: %q", got)
	}
	from := map[string]any{"metadata": map[string]any{"annotations": map[string]any{"x/y": "1", "gone": "2"}}, "spec": map[string]any{"a": []any{"1"}}}
	to := map[string]any{"metadata": map[string]any{"annotations": map[string]any{"x/y": "3", "new~": ""}}, "spec": map[string]any{"a": []any{"2"}, "b": true}}
	b, _ := json.Marshal(Diff(from, to))
	want := `[{"op":"remove","path":"/metadata/annotations/gone"},{"op":"add","path":"/metadata/annotations/new~0","value":""},` +
		`{"op":"replace","path":"/metadata/annotations/x~1y","value":"3"},{"op":"replace","path":"/spec/a","value":["2"]},{"op":"add","path":"/spec/b","value":true}]`
	if string(b) != want {
		t.Errorf("Diff:\n%s\nwant\n%s", b, want)
	}
}

func TestFindUnordered(t *testing.T) {
	list := `{"apiVersion":"v1","kind":"List","items":[
{"kind":"Pod","metadata":{"name":"ordered","namespace":"a","annotations":{"after.podseq.dev/app":"p","podseq.dev/injected":"gate: ..."}}},
{"kind":"Pod","metadata":{"name":"missed","namespace":"b","annotations":{"after.podseq.dev/app":"p"}}},
{"kind":"Pod","metadata":{"name":"refused","namespace":"a","annotations":{"after.podseq.dev/app":"p","podseq.dev/not-injected":"container p: why"}}},
{"kind":"Pod","metadata":{"name":"plain","namespace":"a"}}]}`
	got, err := FindUnordered([]byte(list))
	if err != nil {
		t.Fatal(err)
	}
	want := []Unordered{{"a", "refused", "container p: why"}, {"b", "missed", NotSeen}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
	for _, bad := range []string{"", "[]", `{"kind":"Pod"}`} {
		if _, err := FindUnordered([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// TestMutateNativeSidecarDependency: a proxy another webhook added as a
// native sidecar (an init container with restartPolicy Always, as meshes
// do on recent kubelets) can be named by after: it gets a hook that waits
// for it, stays a native sidecar, and the patched pod is inject's plan.
func TestMutateNativeSidecarDependency(t *testing.T) {
	ts := startServer(t, Config{})
	m, err := decodeObject([]byte(webPod))
	if err != nil {
		t.Fatal(err)
	}
	spec := m["spec"].(map[string]any)
	spec["initContainers"] = []any{map[string]any{"name": "mesh", "image": "mesh:1", "restartPolicy": "Always",
		"command":        []any{"mesh", "proxy"},
		"readinessProbe": map[string]any{"httpGet": map[string]any{"path": "/ready", "port": json.Number("15021")}}}}
	m["metadata"].(map[string]any)["annotations"].(map[string]any)["after.podseq.dev/app"] = "mesh"
	pod, _ := json.Marshal(m)
	resp := ts.mutate(t, PathMutate, "uid-n", string(pod))
	if !resp.Allowed || len(resp.Patch) == 0 || len(resp.Warnings) != 0 {
		t.Fatalf("answer %+v: want allowed with a patch and no warning", resp)
	}
	patched := applyPatch(t, pod, resp.Patch)
	plan, err := inject.Process(pod, inject.Options{Image: "podseq:test"})
	if err != nil {
		t.Fatal(err)
	}
	if !sameJSON(t, patched, plan.Out) {
		t.Fatalf("patched pod:\n%s\nwant inject's plan:\n%s", patched, plan.Out)
	}
	var out struct {
		Spec struct {
			InitContainers []struct {
				Name          string
				RestartPolicy string `json:"restartPolicy"`
				Lifecycle     struct {
					PostStart struct{ Exec struct{ Command []string } } `json:"postStart"`
				}
			} `json:"initContainers"`
		}
	}
	if err := json.Unmarshal(patched, &out); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, c := range out.Spec.InitContainers {
		if c.Name == "mesh" {
			found = true
			hook := strings.Join(c.Lifecycle.PostStart.Exec.Command, " ")
			if c.RestartPolicy != "Always" || !strings.Contains(hook, " wait ") || !strings.Contains(hook, "15021/ready") {
				t.Errorf("mesh: restartPolicy %q, hook %q: want a native sidecar whose hook waits for it", c.RestartPolicy, hook)
			}
		}
	}
	if !found {
		t.Errorf("no mesh init container in:\n%s", patched)
	}
}
