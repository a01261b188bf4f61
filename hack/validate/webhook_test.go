package validate

import (
	"fmt"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/kubernetes/pkg/api/legacyscheme"
	"k8s.io/kubernetes/pkg/apis/admissionregistration"
	_ "k8s.io/kubernetes/pkg/apis/admissionregistration/install"
	admissionvalidation "k8s.io/kubernetes/pkg/apis/admissionregistration/validation"
	"k8s.io/kubernetes/pkg/apis/core"
	corevalidation "k8s.io/kubernetes/pkg/apis/core/validation"
	"k8s.io/kubernetes/pkg/apis/policy"
	_ "k8s.io/kubernetes/pkg/apis/policy/install"
	policyvalidation "k8s.io/kubernetes/pkg/apis/policy/validation"
	"k8s.io/kubernetes/pkg/apis/rbac"
	_ "k8s.io/kubernetes/pkg/apis/rbac/install"
	rbacvalidation "k8s.io/kubernetes/pkg/apis/rbac/validation"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// TestWebhookManifests builds manifests/webhook and manifests/webhook/
// cert-manager as `kubectl apply -k` does and runs the API server's create
// validation on every object (the webhook configuration's matchConditions
// compiled as CEL, its service path, the RBAC rules, the workloads; the pods
// also against Pod Security restricted). cert-manager's kinds have no
// validation here; hack/manifests decodes them strictly.
func TestWebhookManifests(t *testing.T) {
	for _, dir := range []string{"webhook", "webhook/cert-manager"} {
		t.Run(dir, func(t *testing.T) {
			m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), "../../manifests/"+dir)
			if err != nil {
				t.Fatalf("kustomize build: %v", err)
			}
			out, err := m.AsYaml()
			if err != nil {
				t.Fatal(err)
			}
			kinds := map[string]int{}
			for _, j := range objects(t, string(out)) {
				obj, gvk, err := legacyscheme.Codecs.UniversalDecoder().Decode(j, nil, nil)
				if err != nil {
					if gvk != nil && gvk.Group == "cert-manager.io" {
						kinds[gvk.Kind]++
						continue
					}
					t.Fatalf("decode: %v\n%s", err, j)
				}
				var errs field.ErrorList
				switch o := obj.(type) {
				case *admissionregistration.MutatingWebhookConfiguration:
					errs = admissionvalidation.ValidateMutatingWebhookConfiguration(o)
				case *core.Namespace:
					errs = corevalidation.ValidateNamespace(o)
				case *core.ServiceAccount:
					errs = corevalidation.ValidateServiceAccount(o)
				case *core.Service:
					errs = corevalidation.ValidateServiceCreate(o)
				case *policy.PodDisruptionBudget:
					errs = policyvalidation.ValidatePodDisruptionBudget(o, policyvalidation.PodDisruptionBudgetValidationOptions{})
				case *rbac.Role:
					errs = rbacvalidation.ValidateRole(o)
				case *rbac.RoleBinding:
					errs = rbacvalidation.ValidateRoleBinding(o)
				case *rbac.ClusterRole:
					errs = rbacvalidation.ValidateClusterRole(o, rbacvalidation.ClusterRoleValidationOptions{})
				case *rbac.ClusterRoleBinding:
					errs = rbacvalidation.ValidateClusterRoleBinding(o)
				default:
					w, ok := decode(t, j)
					if !ok {
						t.Fatalf("no validation for %T", obj)
					}
					errs = validate(w)
					if reasons, details := restricted(t, w.tmpl); len(reasons) > 0 {
						t.Errorf("%T: fails Pod Security restricted: %s", obj, details)
					}
				}
				kinds[fmt.Sprintf("%T", obj)]++
				for _, e := range errs {
					t.Errorf("%T: %v", obj, e)
				}
			}
			t.Logf("validated: %v", kinds)
			for _, want := range []string{"*admissionregistration.MutatingWebhookConfiguration", "*apps.Deployment",
				"*core.Service", "*policy.PodDisruptionBudget", "*core.Namespace", "*core.ServiceAccount"} {
				if kinds[want] == 0 {
					t.Errorf("no %s", want)
				}
			}
		})
	}
}

// TestWebhookValidationCatches: the validation above refuses what the API
// server refuses: a query in a webhook's service path (why strict mode has
// a path of its own, /mutate/strict), a matchCondition that is not CEL.
func TestWebhookValidationCatches(t *testing.T) {
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), "../../manifests/webhook")
	if err != nil {
		t.Fatal(err)
	}
	out, _ := m.AsYaml()
	var wc []byte
	for _, j := range objects(t, string(out)) {
		if strings.Contains(string(j), `"MutatingWebhookConfiguration"`) {
			wc = j
		}
	}
	for name, c := range map[string][2]string{
		"query":     {`"/mutate/strict"`, `"/mutate?strict=true"`},
		"not CEL":   {`startsWith('after.podseq.dev/')`, `startsWith('after.podseq.dev/'`},
		"no effect": {`"sideEffects":"None"`, `"sideEffects":"Some"`},
	} {
		bad := strings.Replace(string(wc), c[0], c[1], 1)
		if bad == string(wc) {
			t.Fatalf("%s: %s not in the configuration", name, c[0])
		}
		obj, _, err := legacyscheme.Codecs.UniversalDecoder().Decode([]byte(bad), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if errs := admissionvalidation.ValidateMutatingWebhookConfiguration(obj.(*admissionregistration.MutatingWebhookConfiguration)); len(errs) == 0 {
			t.Errorf("%s: validated", name)
		}
	}
}
