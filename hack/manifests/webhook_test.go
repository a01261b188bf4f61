package manifests

import (
	"fmt"
	"path"
	"slices"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/kustomize/api/krusty"
)

// built is one kustomize build, by kind/name.
type built map[string]any

func buildFolder(t *testing.T, dir string) built {
	t.Helper()
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(copyManifests(t, readTree(t)), path.Join("/manifests", dir))
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	out, err := m.AsYaml()
	if err != nil {
		t.Fatal(err)
	}
	objs, err := decodeFile(dir+" (built)", out)
	if err != nil {
		t.Fatal(err)
	}
	b := built{}
	for _, o := range objs {
		meta, _ := o.obj.(metav1.ObjectMetaAccessor)
		name := ""
		if meta != nil {
			name = meta.GetObjectMeta().GetName()
		}
		b[o.key+"/"+name] = o.obj
	}
	return b
}

// webhookChecks are what manifests/webhook promises, for a built folder;
// each returns the problems it found.
func webhookChecks(b built) []string {
	var errs []string
	errorf := func(format string, a ...any) { errs = append(errs, fmt.Sprintf(format, a...)) }
	wc, _ := b["admissionregistration.k8s.io/v1/MutatingWebhookConfiguration/podseq"].(*admissionregistrationv1.MutatingWebhookConfiguration)
	dep, _ := b["apps/v1/Deployment/podseq-webhook"].(*appsv1.Deployment)
	svc, _ := b["v1/Service/podseq-webhook"].(*corev1.Service)
	pdb, _ := b["policy/v1/PodDisruptionBudget/podseq-webhook"].(*policyv1.PodDisruptionBudget)
	if wc == nil || dep == nil || svc == nil || pdb == nil {
		return []string{fmt.Sprintf("missing: webhook configuration %v, Deployment %v, Service %v, PodDisruptionBudget %v", wc != nil, dep != nil, svc != nil, pdb != nil)}
	}
	ns := dep.Namespace
	if _, ok := b["v1/Namespace/"+ns]; !ok {
		errorf("no Namespace %s", ns)
	}
	// The Deployment: two replicas spread across nodes, probes on the
	// webhook's own paths, the secret it mounts at --cert-dir.
	if dep.Spec.Replicas == nil || *dep.Spec.Replicas != 2 {
		errorf("Deployment: replicas %v, want 2", dep.Spec.Replicas)
	}
	spec := dep.Spec.Template.Spec
	if len(spec.TopologySpreadConstraints) == 0 || spec.TopologySpreadConstraints[0].TopologyKey != "kubernetes.io/hostname" {
		errorf("Deployment: not spread across nodes")
	}
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		errorf("Deployment: the webhook mounts an API token it does not need")
	}
	c := spec.Containers[0]
	if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" || c.ReadinessProbe.HTTPGet.Scheme != corev1.URISchemeHTTPS {
		errorf("Deployment: readinessProbe %+v, want HTTPS /readyz", c.ReadinessProbe)
	}
	if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" {
		errorf("Deployment: livenessProbe %+v, want /healthz", c.LivenessProbe)
	}
	certDir, _ := flagValue(c.Args, "cert-dir")
	secret := ""
	for _, m := range c.VolumeMounts {
		if m.MountPath == certDir {
			for _, v := range spec.Volumes {
				if v.Name == m.Name && v.Secret != nil {
					secret = v.Secret.SecretName
				}
			}
		}
	}
	if secret == "" {
		errorf("Deployment: no Secret mounted at --cert-dir %q", certDir)
	}
	listen, _ := flagValue(c.Args, "listen")
	if !strings.HasSuffix(listen, ":9443") || !containerHasPort(c, stringer("https")) {
		errorf("Deployment: --listen %q, or no port named https", listen)
	}
	podLabels := labels.Set(dep.Spec.Template.Labels)
	sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
	if err != nil || !sel.Matches(podLabels) || pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntValue() != 1 {
		errorf("PodDisruptionBudget: does not keep one of the webhook's pods")
	}
	if !labels.SelectorFromSet(svc.Spec.Selector).Matches(podLabels) || len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].TargetPort.String() != "https" {
		errorf("Service: does not reach the webhook's https port")
	}
	// The webhook configuration.
	var enabled *admissionregistrationv1.MutatingWebhook
	for i := range wc.Webhooks {
		w := &wc.Webhooks[i]
		where := "webhook " + w.Name
		s := w.ClientConfig.Service
		if s == nil || s.Name != svc.Name || s.Namespace != ns || s.Port == nil || *s.Port != svc.Spec.Ports[0].Port || s.Path == nil || !strings.HasPrefix(*s.Path, "/mutate") {
			errorf("%s: clientConfig %+v does not name the Service's /mutate", where, s)
		}
		if len(w.Rules) != 1 || !slices.Equal(w.Rules[0].Operations, []admissionregistrationv1.OperationType{"CREATE"}) ||
			!slices.Equal(w.Rules[0].Resources, []string{"pods"}) || !slices.Equal(w.Rules[0].APIGroups, []string{""}) {
			errorf("%s: rules %+v, want pods, CREATE", where, w.Rules)
		}
		if w.ReinvocationPolicy == nil || *w.ReinvocationPolicy != admissionregistrationv1.IfNeededReinvocationPolicy {
			errorf("%s: reinvocationPolicy not IfNeeded", where)
		}
		if w.SideEffects == nil || *w.SideEffects != admissionregistrationv1.SideEffectClassNone {
			errorf("%s: sideEffects not None", where)
		}
		if w.TimeoutSeconds == nil || *w.TimeoutSeconds > 5 {
			errorf("%s: timeoutSeconds %v, want 5 at most", where, w.TimeoutSeconds)
		}
		if len(w.MatchConditions) == 0 || !strings.Contains(w.MatchConditions[0].Expression, "after.podseq.dev/") {
			errorf("%s: no matchCondition on the after.podseq.dev/ annotations", where)
		}
		sel, err := metav1.LabelSelectorAsSelector(w.NamespaceSelector)
		if err != nil {
			errorf("%s: namespaceSelector: %v", where, err)
			continue
		}
		for _, never := range []string{"kube-system", ns} {
			for _, v := range []string{"enabled", "strict"} {
				if sel.Matches(labels.Set{"kubernetes.io/metadata.name": never, "podseq.dev/inject": v}) {
					errorf("%s: sends the pods of %s labelled podseq.dev/inject=%s", where, never, v)
				}
			}
		}
		if sel.Matches(labels.Set{"kubernetes.io/metadata.name": "shop", "podseq.dev/inject": "enabled"}) {
			if enabled != nil {
				errorf("%s: a second webhook for podseq.dev/inject=enabled", where)
			}
			enabled = w
		}
		if sel.Matches(labels.Set{"kubernetes.io/metadata.name": "shop"}) {
			errorf("%s: sends the pods of an unlabelled namespace", where)
		}
	}
	if enabled == nil {
		errorf("no webhook for namespaces labelled podseq.dev/inject=enabled")
	} else if enabled.FailurePolicy == nil || *enabled.FailurePolicy != admissionregistrationv1.Ignore || *enabled.ClientConfig.Service.Path != "/mutate" {
		errorf("webhook %s: failurePolicy %v on %v, want Ignore on /mutate", enabled.Name, enabled.FailurePolicy, enabled.ClientConfig.Service.Path)
	}
	// The certificates: a Job, or cert-manager; either way for the Service's
	// name, into the Secret the Deployment mounts, and the caBundle set.
	dnsName := svc.Name + "." + ns + ".svc"
	job, _ := b["batch/v1/Job/podseq-webhook-certs"].(*batchv1.Job)
	inject := wc.Annotations["cert-manager.io/inject-ca-from"]
	switch {
	case job != nil && inject == "":
		jc := job.Spec.Template.Spec.Containers[0]
		if !slices.Equal(jc.Args, []string{"webhook", "certs"}) {
			errorf("Job: args %q: want webhook certs with its defaults, which the names below are", jc.Args)
		}
		if _, ok := b["batch/v1/CronJob/podseq-webhook-certs"]; !ok {
			errorf("no CronJob renewing the certificate")
		}
		role, _ := b["rbac.authorization.k8s.io/v1/Role/podseq-webhook-certs"].(*rbacv1.Role)
		crole, _ := b["rbac.authorization.k8s.io/v1/ClusterRole/podseq-webhook-certs"].(*rbacv1.ClusterRole)
		if role == nil || crole == nil {
			errorf("the Job's Role or ClusterRole is missing")
			break
		}
		var names []string
		for _, r := range role.Rules {
			names = append(names, r.ResourceNames...)
			if !slices.Equal(r.Resources, []string{"secrets"}) || slices.ContainsFunc(r.Verbs, func(v string) bool { return v == "list" || v == "watch" || v == "delete" || v == "*" }) {
				errorf("Role: %+v: secrets, get/create/update only", r)
			}
		}
		if !slices.Contains(names, secret) || !slices.Contains(names, "podseq-webhook-ca") {
			errorf("Role: resourceNames %q lack the Secret the webhook mounts, %s, or the CA's", names, secret)
		}
		if len(crole.Rules) != 1 || !slices.Equal(crole.Rules[0].ResourceNames, []string{wc.Name}) || !slices.Equal(crole.Rules[0].Verbs, []string{"get", "patch"}) {
			errorf("ClusterRole: %+v: want get and patch on %s only", crole.Rules, wc.Name)
		}
	case job == nil && inject != "":
		cert, _ := b["cert-manager.io/v1/Certificate/"+strings.TrimPrefix(inject, ns+"/")].(*cmCertificate)
		if cert == nil || !strings.HasPrefix(inject, ns+"/") {
			errorf("cert-manager.io/inject-ca-from %q names no Certificate of %s", inject, ns)
			break
		}
		if cert.Spec.SecretName != secret || !slices.Contains(cert.Spec.DNSNames, dnsName) {
			errorf("Certificate %s: secret %s for %q, want %s for %s", cert.Name, cert.Spec.SecretName, cert.Spec.DNSNames, secret, dnsName)
		}
		if _, ok := b["cert-manager.io/v1/Issuer/"+cert.Spec.IssuerRef.Name]; !ok {
			errorf("Certificate %s: no Issuer %s", cert.Name, cert.Spec.IssuerRef.Name)
		}
		for key := range b {
			if strings.Contains(key, "podseq-webhook-certs") {
				errorf("%s: the Job's part, with cert-manager", key)
			}
		}
	default:
		errorf("certificates: a Job %v and cert-manager's annotation %q: want one of them", job != nil, inject)
	}
	return errs
}

// TestWebhookManifests builds manifests/webhook and its cert-manager
// variant and checks what their comments promise.
func TestWebhookManifests(t *testing.T) {
	for _, dir := range []string{"webhook", "webhook/cert-manager"} {
		t.Run(dir, func(t *testing.T) {
			for _, e := range webhookChecks(buildFolder(t, dir)) {
				t.Error(e)
			}
		})
	}
}

// TestWebhookChecksCatch: each broken promise is reported.
func TestWebhookChecksCatch(t *testing.T) {
	cases := map[string]struct {
		mutate func(b built)
		want   string
	}{
		"kube-system": {func(b built) {
			wc := b["admissionregistration.k8s.io/v1/MutatingWebhookConfiguration/podseq"].(*admissionregistrationv1.MutatingWebhookConfiguration)
			wc.Webhooks[0].NamespaceSelector.MatchExpressions = wc.Webhooks[0].NamespaceSelector.MatchExpressions[:1]
		}, "sends the pods of kube-system"},
		"Fail": {func(b built) {
			wc := b["admissionregistration.k8s.io/v1/MutatingWebhookConfiguration/podseq"].(*admissionregistrationv1.MutatingWebhookConfiguration)
			f := admissionregistrationv1.Fail
			wc.Webhooks[0].FailurePolicy = &f
		}, "want Ignore on /mutate"},
		"one replica": {func(b built) {
			one := int32(1)
			b["apps/v1/Deployment/podseq-webhook"].(*appsv1.Deployment).Spec.Replicas = &one
		}, "want 2"},
		"no reinvocation": {func(b built) {
			wc := b["admissionregistration.k8s.io/v1/MutatingWebhookConfiguration/podseq"].(*admissionregistrationv1.MutatingWebhookConfiguration)
			wc.Webhooks[1].ReinvocationPolicy = nil
		}, "reinvocationPolicy not IfNeeded"},
		"list secrets": {func(b built) {
			r := b["rbac.authorization.k8s.io/v1/Role/podseq-webhook-certs"].(*rbacv1.Role)
			r.Rules[0].Verbs = append(r.Rules[0].Verbs, "list")
		}, "get/create/update only"},
	}
	for name, c := range cases {
		b := buildFolder(t, "webhook")
		c.mutate(b)
		got := webhookChecks(b)
		if !slices.ContainsFunc(got, func(m string) bool { return strings.Contains(m, c.want) }) {
			t.Errorf("%s: got %q, want a report holding %q", name, got, c.want)
		}
	}
}
