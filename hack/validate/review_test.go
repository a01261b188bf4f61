package validate

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	admissionv1 "k8s.io/api/admission/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stypes "k8s.io/apimachinery/pkg/types"
	"k8s.io/kubernetes/pkg/api/legacyscheme"
	"k8s.io/kubernetes/pkg/apis/core"
	corevalidation "k8s.io/kubernetes/pkg/apis/core/validation"
	"sigs.k8s.io/yaml"

	"github.com/podseq/podseq/inject"
	"github.com/podseq/podseq/webhook"
)

// review sends pod (defaulted as the API server defaults it) to the
// webhook's handler as the API server does, with k8s.io/api's
// AdmissionReview, decodes the answer strictly into the same type, and
// returns it with the pod the API server would make of the patch.
func review(t *testing.T, h http.Handler, pod *corev1.Pod, uid string) (*admissionv1.AdmissionResponse, *corev1.Pod) {
	t.Helper()
	legacyscheme.Scheme.Default(pod)
	raw, err := json.Marshal(pod)
	if err != nil {
		t.Fatal(err)
	}
	rv := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID:       k8stypes.UID("u-" + uid),
			Kind:      metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
			Resource:  metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
			Namespace: "shop", Operation: admissionv1.Create,
			Object: runtime.RawExtension{Raw: raw},
		},
	}
	body, _ := json.Marshal(rv)
	req := httptest.NewRequest(http.MethodPost, webhook.PathMutate+"?timeout=5s", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	dec := json.NewDecoder(rec.Body)
	dec.DisallowUnknownFields()
	var out admissionv1.AdmissionReview
	if err := dec.Decode(&out); err != nil {
		t.Fatalf("the answer is no k8s.io/api AdmissionReview: %v", err)
	}
	resp := out.Response
	if out.APIVersion != "admission.k8s.io/v1" || out.Kind != "AdmissionReview" || resp == nil || string(resp.UID) != string(rv.Request.UID) {
		t.Fatalf("answer %+v", out)
	}
	if len(resp.Patch) == 0 {
		return resp, pod
	}
	if resp.PatchType == nil || *resp.PatchType != admissionv1.PatchTypeJSONPatch {
		t.Fatalf("patchType %v", resp.PatchType)
	}
	// The API server's own JSON patch library.
	p, err := jsonpatch.DecodePatch(resp.Patch)
	if err != nil {
		t.Fatalf("patch: %v", err)
	}
	patched, err := p.Apply(raw)
	if err != nil {
		t.Fatalf("apply the patch: %v\n%s", err, resp.Patch)
	}
	var np corev1.Pod
	if err := yaml.UnmarshalStrict(patched, &np); err != nil {
		t.Fatalf("the patched pod: %v", err)
	}
	return resp, &np
}

// TestWebhookReviewCompatible: the webhook's answer to a review of
// manifests/inject/deployment.yaml's pod is a k8s.io/api AdmissionReview;
// its patch, applied by the API server's JSON patch library, gives a pod
// that passes the API server's create validation and Pod Security
// restricted; and, defaulted as the API server does before it calls the
// webhook again, gets an empty patch.
func TestWebhookReviewCompatible(t *testing.T) {
	dir := t.TempDir()
	ca, err := webhook.MakeCA("test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	srv, err := webhook.MakeServing(ca, []string{"localhost"}, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	_ = os.WriteFile(filepath.Join(dir, webhook.CertFile), srv.Cert, 0o600)
	_ = os.WriteFile(filepath.Join(dir, webhook.KeyFile), srv.Key, 0o600)
	s, err := webhook.New(webhook.Config{CertDir: dir, Inject: inject.Options{Image: "podseq:dev"}})
	if err != nil {
		t.Fatal(err)
	}
	h := s.Handler()

	in, err := os.ReadFile("../../manifests/inject/deployment.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var d appsv1.Deployment
	if err := yaml.Unmarshal(objects(t, string(in))[0], &d); err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}, ObjectMeta: d.Spec.Template.ObjectMeta, Spec: d.Spec.Template.Spec}
	pod.GenerateName, pod.Namespace = "inject-web-5d9c7f-", "shop"

	resp, patched := review(t, h, pod, "1")
	if !resp.Allowed || len(resp.Patch) == 0 || len(resp.Warnings) != 0 {
		t.Fatalf("answer %+v", resp)
	}
	if patched.Annotations[inject.InjectedKey] == "" || patched.Spec.Containers[0].Name != "proxy" || len(patched.Spec.InitContainers) != 1 {
		t.Fatalf("the patched pod is not ordered: %+v", patched.Spec)
	}
	legacyscheme.Scheme.Default(patched)
	var internal core.Pod
	if err := legacyscheme.Scheme.Convert(patched, &internal, nil); err != nil {
		t.Fatal(err)
	}
	internal.Name = "inject-web-5d9c7f-abcde" // generated after admission
	opts := corevalidation.PodValidationOptions{}
	if errs := corevalidation.ValidatePodCreate(&internal, opts); len(errs) > 0 {
		t.Errorf("the API server rejects the patched pod: %v", errs.ToAggregate())
	}
	if reasons, details := restricted(t, &core.PodTemplateSpec{ObjectMeta: internal.ObjectMeta, Spec: internal.Spec}); len(reasons) > 0 {
		t.Errorf("the patched pod is not restricted: %s", details)
	}

	again, _ := review(t, h, patched, "2")
	if len(again.Patch) != 0 || !again.Allowed {
		t.Errorf("reinvoked on the defaulted patched pod: patch %s", again.Patch)
	}

	// A bad annotation: allowed, the warning, the annotation.
	bad := pod.DeepCopy()
	bad.Annotations["after.podseq.dev/app"] = "prxy"
	resp, patched = review(t, h, bad, "3")
	if !resp.Allowed || len(resp.Warnings) != 1 || patched.Annotations[webhook.NotInjectedKey] == "" {
		t.Errorf("a bad annotation: %+v, annotations %v", resp, patched.Annotations)
	}
}
