// Package validate checks podseq inject's output with the API server's
// validation code and the Pod Security admission library.
package validate

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/kubernetes/pkg/api/legacyscheme"
	podutil "k8s.io/kubernetes/pkg/api/pod"
	"k8s.io/kubernetes/pkg/apis/apps"
	_ "k8s.io/kubernetes/pkg/apis/apps/install"
	appsvalidation "k8s.io/kubernetes/pkg/apis/apps/validation"
	"k8s.io/kubernetes/pkg/apis/batch"
	_ "k8s.io/kubernetes/pkg/apis/batch/install"
	batchvalidation "k8s.io/kubernetes/pkg/apis/batch/validation"
	"k8s.io/kubernetes/pkg/apis/core"
	_ "k8s.io/kubernetes/pkg/apis/core/install"
	corevalidation "k8s.io/kubernetes/pkg/apis/core/validation"
	psaapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
	"sigs.k8s.io/yaml"

	"github.com/podseq/podseq/inject"
)

const golden = "../../inject/testdata/golden"

// separator matches the line between YAML documents.
var separator = regexp.MustCompile(`(?m)^---[ \t]*(#.*)?\n`)

// objects splits a manifest file into its objects as JSON, List and
// ResourceList items taken out.
func objects(t *testing.T, text string) [][]byte {
	t.Helper()
	var out [][]byte
	for _, doc := range separator.Split(text, -1) {
		var m map[string]any
		if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
			t.Fatalf("decode: %v", err)
		}
		if m == nil {
			continue
		}
		list := []any{m}
		if k := m["kind"]; k == "List" || k == "ResourceList" {
			list, _ = m["items"].([]any)
		}
		for _, it := range list {
			b, err := yaml.Marshal(it)
			if err != nil {
				t.Fatal(err)
			}
			j, err := yaml.YAMLToJSON(b)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, j)
		}
	}
	return out
}

// workload is a decoded (internal, defaulted) object and its pod template.
type workload struct {
	obj  runtime.Object
	meta *metav1.ObjectMeta
	tmpl *core.PodTemplateSpec
}

// decode decodes an object as the API server does: into the internal
// types, with the defaults applied. ok is false for kinds without a pod
// template.
func decode(t *testing.T, j []byte) (w workload, ok bool) {
	t.Helper()
	obj, _, err := legacyscheme.Codecs.UniversalDecoder().Decode(j, nil, nil)
	if err != nil {
		if strings.Contains(err.Error(), "no kind") {
			return decodeOther(t, j)
		}
		t.Fatalf("decode: %v", err)
	}
	w.obj = obj
	switch o := obj.(type) {
	case *core.Pod:
		w.meta, w.tmpl = &o.ObjectMeta, &core.PodTemplateSpec{ObjectMeta: o.ObjectMeta, Spec: o.Spec}
	case *apps.Deployment:
		w.meta, w.tmpl = &o.ObjectMeta, &o.Spec.Template
	case *apps.StatefulSet:
		w.meta, w.tmpl = &o.ObjectMeta, &o.Spec.Template
	case *apps.DaemonSet:
		w.meta, w.tmpl = &o.ObjectMeta, &o.Spec.Template
	case *apps.ReplicaSet:
		w.meta, w.tmpl = &o.ObjectMeta, &o.Spec.Template
	case *core.ReplicationController:
		w.meta, w.tmpl = &o.ObjectMeta, o.Spec.Template
	case *batch.Job:
		w.meta, w.tmpl = &o.ObjectMeta, &o.Spec.Template
	case *batch.CronJob:
		w.meta, w.tmpl = &o.ObjectMeta, &o.Spec.JobTemplate.Spec.Template
	default:
		return w, false
	}
	if w.meta.Namespace == "" {
		w.meta.Namespace = "default" // as kubectl apply sets it
	}
	return w, true
}

// decodeOther decodes the pod template of a kind the API server does not
// know (a Knative Service, an Argo Rollout, ...) at spec.template, as a
// PodTemplate named as the object. ok is false without one.
func decodeOther(t *testing.T, j []byte) (w workload, ok bool) {
	t.Helper()
	var o struct {
		Metadata metav1.ObjectMeta `json:"metadata"`
		Spec     struct {
			Template *corev1.PodTemplateSpec `json:"template"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(j, &o); err != nil || o.Spec.Template == nil || len(o.Spec.Template.Spec.Containers) == 0 {
		return w, false
	}
	v1 := &corev1.PodTemplate{ObjectMeta: o.Metadata, Template: *o.Spec.Template}
	legacyscheme.Scheme.Default(v1)
	pt := &core.PodTemplate{}
	if err := legacyscheme.Scheme.Convert(v1, pt, nil); err != nil {
		t.Fatalf("convert: %v", err)
	}
	if pt.Namespace == "" {
		pt.Namespace = "default"
	}
	return workload{obj: pt, meta: &pt.ObjectMeta, tmpl: &pt.Template}, true
}

// validate runs the API server's create validation for the object.
func validate(w workload) field.ErrorList {
	opts := podutil.GetValidationOptionsFromPodTemplate(w.tmpl, nil)
	switch o := w.obj.(type) {
	case *core.Pod:
		return corevalidation.ValidatePodCreate(o, opts)
	case *core.PodTemplate:
		return corevalidation.ValidatePodTemplate(o, opts)
	case *apps.Deployment:
		return appsvalidation.ValidateDeployment(o, opts)
	case *apps.StatefulSet:
		return appsvalidation.ValidateStatefulSet(o, opts)
	case *apps.DaemonSet:
		return appsvalidation.ValidateDaemonSet(o, opts)
	case *apps.ReplicaSet:
		return appsvalidation.ValidateReplicaSet(o, opts)
	case *core.ReplicationController:
		return corevalidation.ValidateReplicationController(o, opts)
	case *batch.Job:
		// The API server generates a Job's uid, selector and labels on create
		// (pkg/registry/batch/job: generateSelector).
		const uid = "00000000-0000-0000-0000-000000000000"
		o.UID = types.UID(uid)
		o.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{batch.LegacyControllerUidLabel: uid}}
		if o.Spec.Template.Labels == nil {
			o.Spec.Template.Labels = map[string]string{}
		}
		for k, v := range map[string]string{batch.ControllerUidLabel: uid, batch.LegacyControllerUidLabel: uid,
			batch.JobNameLabel: o.Name, batch.LegacyJobNameLabel: o.Name} {
			o.Spec.Template.Labels[k] = v
		}
		return batchvalidation.ValidateJob(o, batchvalidation.JobValidationOptions{PodValidationOptions: opts})
	case *batch.CronJob:
		return batchvalidation.ValidateCronJobCreate(o, opts)
	}
	return nil
}

// evaluator is the Pod Security evaluator with the library's checks, made once.
var evaluator = sync.OnceValues(func() (policy.Evaluator, error) { return policy.NewEvaluator(policy.DefaultChecks()) })

// restricted evaluates a pod template against Pod Security restricted and
// returns the names of the checks it fails and their details.
func restricted(t *testing.T, tmpl *core.PodTemplateSpec) (reasons map[string]bool, details string) {
	t.Helper()
	var v1 corev1.PodTemplateSpec
	if err := legacyscheme.Scheme.Convert(tmpl, &v1, nil); err != nil {
		t.Fatalf("convert: %v", err)
	}
	ev, err := evaluator()
	if err != nil {
		t.Fatal(err)
	}
	reasons = map[string]bool{}
	level := psaapi.LevelVersion{Level: psaapi.LevelRestricted, Version: psaapi.LatestVersion()}
	for _, r := range ev.EvaluatePod(level, &v1.ObjectMeta, &v1.Spec) {
		if !r.Allowed {
			reasons[r.ForbiddenReason] = true
			details += r.ForbiddenReason + ": " + r.ForbiddenDetail + "; "
		}
	}
	return reasons, details
}

// TestGoldenOutputs validates every object inject changed in the golden
// outputs, and checks that it fails no Pod Security restricted check its
// input passed (and that no check names what inject added).
func TestGoldenOutputs(t *testing.T) {
	outs, _ := filepath.Glob(filepath.Join(golden, "*.out.*"))
	if len(outs) < 10 {
		t.Fatalf("found %d golden outputs in %s", len(outs), golden)
	}
	injected := 0
	for _, outPath := range outs {
		t.Run(filepath.Base(outPath), func(t *testing.T) {
			outText, err := os.ReadFile(outPath)
			if err != nil {
				t.Fatal(err)
			}
			inText, err := os.ReadFile(strings.Replace(outPath, ".out.", ".in.", 1))
			if err != nil {
				t.Fatal(err)
			}
			outs, ins := objects(t, string(outText)), objects(t, string(inText))
			if len(outs) != len(ins) {
				t.Fatalf("%d objects out, %d in", len(outs), len(ins))
			}
			for i := range outs {
				w, ok := decode(t, outs[i])
				if !ok || w.tmpl.Annotations[inject.InjectedKey] == "" {
					continue
				}
				injected++
				name := fmt.Sprintf("%T %s", w.obj, w.meta.Name)
				t.Logf("%s: validated", name)
				if errs := validate(w); len(errs) > 0 {
					t.Errorf("%s: the API server rejects it: %v", name, errs.ToAggregate())
				}
				in, _ := decode(t, ins[i])
				before, _ := restricted(t, in.tmpl)
				after, details := restricted(t, w.tmpl)
				for r := range after {
					if !before[r] {
						t.Errorf("%s: fails Pod Security restricted check %q, which its input passed: %s", name, r, details)
					}
				}
				if strings.Contains(details, inject.InstallContainer) {
					t.Errorf("%s: Pod Security restricted: %s", name, details)
				}
			}
		})
	}
	if injected < 10 {
		t.Errorf("validated %d injected objects, want at least one per kind and mode", injected)
	}
}

// TestRestrictedStaysRestricted: a pod that meets Pod Security restricted
// still does after inject, in every mode.
func TestRestrictedStaysRestricted(t *testing.T) {
	in, err := os.ReadFile(filepath.Join(golden, "restricted.in.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	w, _ := decode(t, objects(t, string(in))[0])
	if reasons, details := restricted(t, w.tmpl); len(reasons) > 0 {
		t.Fatalf("the input itself is not restricted: %s", details)
	}
	for _, mode := range []inject.Mode{inject.Gate, inject.Native, inject.Tombstone} {
		checkInjected(t, string(mode), in, mode)
	}
}

// TestManifestsInject: the manifests of manifests/inject, injected in every
// mode that fits them, pass validation and stay Pod Security restricted.
func TestManifestsInject(t *testing.T) {
	for file, modes := range map[string][]inject.Mode{
		"deployment.yaml":         {"", inject.Native},
		"job.yaml":                {"", inject.Native, inject.Gate},
		"native-sidecar.yaml":     {"", inject.Native, inject.Gate},
		"native-sidecar-job.yaml": {"", inject.Native, inject.Gate},
	} {
		in, err := os.ReadFile(filepath.Join("../../manifests/inject", file))
		if err != nil {
			t.Fatal(err)
		}
		for _, mode := range modes {
			checkInjected(t, fmt.Sprintf("%s, mode %q", file, mode), in, mode)
		}
	}
}

// checkInjected injects in (mode "" leaves it to the manifest) and expects
// the first object of the output to pass the API server's validation and
// Pod Security restricted; what names the case in failures.
func checkInjected(t *testing.T, what string, in []byte, mode inject.Mode) {
	t.Helper()
	res, err := inject.Process(in, inject.Options{Mode: mode, Image: "podseq:dev"})
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	w, _ := decode(t, objects(t, string(res.Out))[0])
	if errs := validate(w); len(errs) > 0 {
		t.Errorf("%s: the API server rejects it: %v", what, errs.ToAggregate())
	}
	if reasons, details := restricted(t, w.tmpl); len(reasons) > 0 {
		t.Errorf("%s: not restricted: %s", what, details)
	}
}

// TestLayoutInputs: the realistic layouts of inject/testdata/layout (a
// Helm-rendered stream, CRLF, comments everywhere, several documents),
// injected as patches on their text, pass validation, and fail no Pod
// Security restricted check their input passed.
func TestLayoutInputs(t *testing.T) {
	files, _ := filepath.Glob("../../inject/testdata/layout/*.yaml")
	if len(files) < 4 {
		t.Fatalf("found %d layout inputs", len(files))
	}
	injected := 0
	for _, f := range files {
		inText, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		res, err := inject.Process(inText, inject.Options{Image: "podseq:dev"})
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		outs, ins := objects(t, string(res.Out)), objects(t, string(inText))
		if len(outs) != len(ins) {
			t.Fatalf("%s: %d objects out, %d in", f, len(outs), len(ins))
		}
		for i := range outs {
			w, ok := decode(t, outs[i])
			if !ok || w.tmpl.Annotations[inject.InjectedKey] == "" {
				continue
			}
			injected++
			name := fmt.Sprintf("%s: %T %s", filepath.Base(f), w.obj, w.meta.Name)
			if errs := validate(w); len(errs) > 0 {
				t.Errorf("%s: the API server rejects it: %v", name, errs.ToAggregate())
			}
			in, _ := decode(t, ins[i])
			before, _ := restricted(t, in.tmpl)
			after, details := restricted(t, w.tmpl)
			for r := range after {
				if !before[r] {
					t.Errorf("%s: fails Pod Security restricted check %q, which its input passed: %s", name, r, details)
				}
			}
		}
	}
	if injected < 5 {
		t.Errorf("validated %d injected objects", injected)
	}
}

// TestEveryManifest runs inject over every manifest of manifests/ as it is:
// no document is refused, and every object inject changed passes the API
// server's validation and fails no Pod Security restricted check that its
// input passed.
func TestEveryManifest(t *testing.T) {
	var files []string
	err := filepath.WalkDir("../../manifests", func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")) {
			files = append(files, p)
		}
		return err
	})
	if err != nil || len(files) < 10 {
		t.Fatalf("found %d manifests (%v)", len(files), err)
	}
	injected := 0
	for _, f := range files {
		in, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		res, err := inject.Process(in, inject.Options{Image: "podseq:dev"})
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		outs, ins := objects(t, string(res.Out)), objects(t, string(in))
		for i := range outs {
			w, ok := decode(t, outs[i])
			if !ok || w.tmpl.Annotations[inject.InjectedKey] == "" {
				continue
			}
			injected++
			if errs := validate(w); len(errs) > 0 {
				t.Errorf("%s: %s: the API server rejects it: %v", f, w.meta.Name, errs.ToAggregate())
			}
			before, _ := decode(t, ins[i])
			was, _ := restricted(t, before.tmpl)
			is, details := restricted(t, w.tmpl)
			for r := range is {
				if !was[r] {
					t.Errorf("%s: %s: fails Pod Security restricted check %q, which its input passed: %s", f, w.meta.Name, r, details)
				}
			}
		}
	}
	if injected < 4 {
		t.Errorf("inject changed %d objects of manifests/, want at least manifests/inject's", injected)
	}
}
