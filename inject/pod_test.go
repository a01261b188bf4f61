package inject

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// webPod is a Pod as the API server hands it to an admission webhook: JSON,
// with fields the server defaulted.
const webPod = `{
  "apiVersion": "v1",
  "kind": "Pod",
  "metadata": {
    "generateName": "web-",
    "namespace": "shop",
    "annotations": {"after.podseq.dev/app": "proxy", "a/b~c": "kept"}
  },
  "spec": {
    "containers": [
      {"name": "app", "image": "busybox:1.36", "command": ["sh", "-c", "echo hi"],
       "terminationMessagePath": "/dev/termination-log", "imagePullPolicy": "IfNotPresent"},
      {"name": "proxy", "image": "busybox:1.36", "command": ["httpd", "-f"],
       "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
       "readinessProbe": {"httpGet": {"path": "/ready", "port": "http", "scheme": "HTTP"}, "periodSeconds": 1}}
    ],
    "restartPolicy": "Always",
    "terminationGracePeriodSeconds": 30
  }
}
`

func TestPlanPodSameAsProcess(t *testing.T) {
	o := Options{Image: "podseq:v1"}
	for name, in := range map[string]string{
		"gate":      webPod,
		"native":    strings.Replace(webPod, `"a/b~c": "kept"`, `"podseq.dev/mode": "native"`, 1),
		"tombstone": strings.Replace(webPod, `"restartPolicy": "Always"`, `"restartPolicy": "Never"`, 1),
	} {
		t.Run(name, func(t *testing.T) {
			plan, err := PlanPod([]byte(in), o)
			if err != nil {
				t.Fatal(err)
			}
			res, err := Process([]byte(in), o)
			if err != nil {
				t.Fatal(err)
			}
			if !plan.Changed || string(plan.Pod) != string(res.Out) {
				t.Fatalf("PlanPod (changed %t):\n%s\nProcess:\n%s", plan.Changed, plan.Pod, res.Out)
			}
			samePlanObjects(t, []byte(in), plan.Pod)
			again, err := PlanPod(plan.Pod, o)
			if err != nil {
				t.Fatal(err)
			}
			if string(again.Pod) != string(plan.Pod) {
				t.Errorf("planned twice, the pod changed:\n%s\nthen:\n%s", plan.Pod, again.Pod)
			}
		})
	}
}

// TestPlanPodSameAsTemplate: a Pod made from a Deployment's template is
// planned to the spec inject gives the Deployment's template.
func TestPlanPodSameAsTemplate(t *testing.T) {
	var pod map[string]any
	if err := json.Unmarshal([]byte(webPod), &pod); err != nil {
		t.Fatal(err)
	}
	deploy := map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": map[string]any{"name": "web"},
		"spec": map[string]any{"template": map[string]any{"metadata": pod["metadata"], "spec": pod["spec"]}}}
	din, _ := json.Marshal(deploy)
	res, err := Process(din, Options{})
	if err != nil {
		t.Fatal(err)
	}
	plan, err := PlanPod([]byte(webPod), Options{})
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Spec struct {
			Template struct{ Spec json.RawMessage } `json:"template"`
		} `json:"spec"`
	}
	var p struct{ Spec json.RawMessage }
	if err := json.Unmarshal(res.Out, &d); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(plan.Pod, &p); err != nil {
		t.Fatal(err)
	}
	if a, b := specJSON(t, d.Spec.Template.Spec), specJSON(t, p.Spec); a != b {
		t.Errorf("Deployment's template:\n%s\nPod:\n%s", a, b)
	}
}

func specJSON(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	b, _ := json.MarshalIndent(v, "", " ")
	return string(b)
}

// TestPlanPodAddedContainer: a container added to an injected pod (as
// another admission webhook does) takes its place in the order.
func TestPlanPodAddedContainer(t *testing.T) {
	in := strings.Replace(webPod, `/app": "proxy"`, `/app": "proxy,mesh"`, 1)
	if _, err := PlanPod([]byte(in), Options{}); err == nil || !strings.Contains(err.Error(), "mesh") {
		t.Fatalf("a dependency not in the pod yet: got %v", err)
	}
	var pe *PodError
	_, err := PlanPod([]byte(in), Options{})
	if !errors.As(err, &pe) || pe.Container != "mesh" {
		t.Fatalf("want a PodError naming mesh, got %#v", err)
	}
	plan, err := PlanPod([]byte(webPod), Options{})
	if err != nil {
		t.Fatal(err)
	}
	var pod map[string]any
	if err := json.Unmarshal(plan.Pod, &pod); err != nil {
		t.Fatal(err)
	}
	spec := pod["spec"].(map[string]any)
	spec["containers"] = append(spec["containers"].([]any), map[string]any{"name": "mesh", "image": "mesh:1",
		"readinessProbe": map[string]any{"tcpSocket": map[string]any{"port": 15001}}})
	pod["metadata"].(map[string]any)["annotations"].(map[string]any)[AfterPrefix+"app"] = "proxy,mesh"
	added, _ := json.Marshal(pod)
	again, err := PlanPod(added, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		Spec struct {
			Containers []struct {
				Name      string
				Lifecycle any
			}
		}
	}
	if err := json.Unmarshal(again.Pod, &out); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range out.Spec.Containers {
		names = append(names, c.Name)
	}
	if strings.Join(names, ",") != "proxy,mesh,app" || out.Spec.Containers[1].Lifecycle == nil {
		t.Errorf("containers %v (mesh's lifecycle %v): want proxy,mesh,app with mesh gated", names, out.Spec.Containers[1].Lifecycle)
	}
}

func TestPlanPodBadInput(t *testing.T) {
	for name, in := range map[string]string{
		"not JSON":   "kind: Pod\n",
		"not a pod":  `{"kind": "Deployment"}`,
		"a list":     `[1]`,
		"malformed":  `{"kind": "Pod", `,
		"duplicated": `{"kind": "Pod", "kind": "Pod"}`,
	} {
		if _, err := PlanPod([]byte(in), Options{}); !errors.Is(err, ErrBadInput) {
			t.Errorf("%s: got %v, want ErrBadInput", name, err)
		}
	}
	plan, err := PlanPod([]byte(`{"kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [{"name": "a"}]}}`), Options{})
	if err != nil || plan.Changed {
		t.Errorf("a pod with no order: %v, changed %v", err, plan)
	}
}

// FuzzPlanPodSameAsProcess: where both take a Pod given as JSON, PlanPod
// and Process give the same output, and PlanPod refuses a pod to order only
// where Process refuses it too.
func FuzzPlanPodSameAsProcess(f *testing.F) {
	f.Add(webPod)
	f.Add(strings.Replace(webPod, `"restartPolicy": "Always"`, `"restartPolicy": "Never"`, 1))
	f.Add(strings.Replace(webPod, `"a/b~c": "kept"`, `"podseq.dev/mode": "native", "ready.podseq.dev/proxy": "tcp://localhost:1"`, 1))
	f.Add(`{"kind":"Pod","metadata":{"annotations":{"after.podseq.dev/a":"b"}},"spec":{"containers":[{"name":"a","command":["x"]},{"name":"b","readinessProbe":{"tcpSocket":{"port":1.5e3}}}]}}`)
	f.Add(`{"kind":"Pod","spec":{"containers":[{"name":"a\u003c","n":null,"b":true,"f":-0.5}]}}`)
	f.Fuzz(func(t *testing.T, in string) {
		if !isJSON(in) {
			return
		}
		plan, perr := PlanPod([]byte(in), Options{})
		res, rerr := Process([]byte(in), Options{})
		var pe *PodError
		switch {
		case perr == nil && rerr == nil:
			if string(plan.Pod) != string(res.Out) {
				t.Fatalf("PlanPod:\n%s\nProcess:\n%s", plan.Pod, res.Out)
			}
			if json.Valid([]byte(in)) {
				objs, err := PlanPodObjects([]byte(in), Options{})
				if err != nil {
					t.Fatal(err)
				}
				var want any
				dec := json.NewDecoder(strings.NewReader(string(plan.Pod)))
				dec.UseNumber()
				if err := dec.Decode(&want); err != nil {
					t.Fatalf("PlanPod's output is not JSON: %v\n%s", err, plan.Pod)
				}
				if !reflect.DeepEqual(any(objs.Planned), want) {
					t.Fatalf("PlanPodObjects:\n%v\nPlanPod:\n%v", objs.Planned, want)
				}
			}
		case errors.As(perr, &pe) && rerr == nil:
			t.Fatalf("PlanPod refused (%v) what Process took", perr)
		case perr == nil && rerr != nil && plan.Changed:
			t.Fatalf("PlanPod planned what Process refused (%v)", rerr)
		}
	})
}

// samePlanObjects checks that PlanPodObjects gives in and out as encoding/json
// decodes them.
func samePlanObjects(t *testing.T, in, out []byte) {
	t.Helper()
	objs, err := PlanPodObjects(in, Options{Image: "podseq:v1"})
	if err != nil {
		t.Fatal(err)
	}
	decode := func(b []byte) map[string]any {
		dec := json.NewDecoder(strings.NewReader(string(b)))
		dec.UseNumber()
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("not JSON: %v\n%s", err, b)
		}
		return m
	}
	if !reflect.DeepEqual(objs.Original, decode(in)) {
		t.Errorf("Original:\n%v\nwant\n%v", objs.Original, decode(in))
	}
	if !reflect.DeepEqual(objs.Planned, decode(out)) {
		t.Errorf("Planned:\n%v\nwant\n%v", objs.Planned, decode(out))
	}
}

// PodPlan is what PlanPod made of one Pod.
type PodPlan struct {
	// Pod is the planned Pod as JSON: the input itself when nothing changed.
	Pod []byte
	// Changed reports whether Pod differs from the input.
	Changed bool
	// Warnings are one line each, "container C: why", for containers whose
	// order rests on a postStart hook alone (Result.Warnings, without the
	// pod's name, which the caller knows better).
	Warnings []string
}

// PlanPod plans one Pod given as JSON (an object of kind Pod) with the code
// Process runs for a Pod document: the same input and options give the
// same pod. A pod that is not asking for an order comes back unchanged; one
// injected earlier is planned again from its original (containers added
// since take their place in the order). Errors: *PodError for a pod inject
// cannot order; otherwise an error wrapping ErrBadInput for input that is
// not a Pod object.
func PlanPod(in []byte, o Options) (*PodPlan, error) {
	root, changed, warnings, err := planPod(in, o)
	if err != nil {
		return nil, err
	}
	plan := &PodPlan{Pod: in, Changed: changed, Warnings: warnings}
	if changed {
		out, err := encodeJSON(root, string(in))
		if err != nil {
			return nil, err
		}
		plan.Pod = []byte(out)
	}
	return plan, nil
}

func planPod(in []byte, o Options) (*yaml.Node, bool, []string, error) {
	return planPodWith(in, o, nil)
}
