package main

import (
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/podseq/podseq/hack/e2e/internal/cluster"
	"github.com/podseq/podseq/hack/e2e/internal/proc"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// podseq's admission webhook, installed from manifests/webhook as users
// install it, orders pods whose manifests have no podseq in them.

func init() {
	register(Scenario{
		Name:    "cluster-webhook",
		Cluster: true,
		Shows: "manifests/webhook applied with `kubectl apply -k` (certificates by its Job), a namespace labelled " +
			"podseq.dev/inject=enabled: manifests/inject's originals (no podseq) start in order; a mesh webhook of the test's " +
			"adds a mesh-proxy container to every pod after podseq's, and podseq, invoked again, orders the app after it; " +
			"a bad annotation: the pod is created and kubectl prints the warning; both replicas down: pods are still created " +
			"and `kubectl podseq unordered` lists them; the serving certificate rotated while pods are created: none missed",
		Run: clusterWebhook,
	})
}

const (
	webhookNS = "podseq-system"
	// meshNative: the mesh webhook adds its proxy as a native sidecar (an
	// init container with restartPolicy Always), as Istio does; podseq,
	// invoked again, gives it the hook that holds the app until it is ready.
	meshNative = true
	meshPort   = 15001
)

func clusterWebhook(t *T) error {
	if _, err := os.Stat(filepath.Join(t.Repo, "bin", "kubectl-podseq")); err != nil {
		return fmt.Errorf("bin/kubectl-podseq (make build): %w", err)
	}
	// 1. Install as the README says.
	out, err := t.Kubectl("apply", "-k", filepath.Join(t.Repo, "manifests", "webhook"))
	if err != nil {
		return fmt.Errorf("kubectl apply -k manifests/webhook: %w", err)
	}
	t.Logf("kubectl apply -k manifests/webhook:\n%s", out)
	if _, err := t.Kubectl("wait", "-n", webhookNS, "--timeout=180s", "--for=condition=Complete", "job/podseq-webhook-certs"); err != nil {
		t.describeNamespace(webhookNS)
		return fmt.Errorf("the certificates Job: %w", err)
	}
	if _, err := t.Kubectl("rollout", "status", "-n", webhookNS, "--timeout=180s", "deployment/podseq-webhook"); err != nil {
		t.describeNamespace(webhookNS)
		return fmt.Errorf("the webhook's rollout: %w", err)
	}
	// The endpoints exist; the API server's first calls may still race
	// kube-proxy's rules: a dry run tells when a pod is ordered.
	ns, err := t.Namespace("webhook", true)
	if err != nil {
		return err
	}
	if _, err := t.Kubectl("label", "namespace", ns, "podseq.dev/inject=enabled"); err != nil {
		return err
	}
	if err := proc.Poll(t.Ctx, 60*time.Second, time.Second, func() error { _, err := dryRunOrdered(t, ns, "probe"); return err }); err != nil {
		return fmt.Errorf("the webhook never ordered a pod: %w", err)
	}
	var errs []error
	step := func(name string, f func() error) {
		began := time.Now()
		if err := f(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
			return
		}
		t.Figure(name, "ok in %s", time.Since(began).Round(time.Second))
	}
	step("inject's originals", func() error { return webhookOriginals(t, ns) })
	step("mesh", func() error { return webhookMesh(t) })
	step("bad annotation", func() error { return webhookBadAnnotation(t, ns) })
	step("webhook down", func() error { return webhookDown(t, ns) })
	step("certificate rotated", func() error { return webhookRotation(t, ns) })
	return errors.Join(errs...)
}

// orderedPod is a pod asking for app after proxy, with nothing of podseq.
func orderedPod(name string) *corev1.Pod {
	proxy := sleeper("proxy")
	proxy.Command = []string{"sh", "-c", "exec httpd -f -p 8080 -h /tmp"}
	proxy.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(8080)}}, PeriodSeconds: 1}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{"after.podseq.dev/app": "proxy"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{sleeper("app"), proxy}},
	}
	restrict(pod)
	return pod
}

// restrict makes a pod pass Pod Security restricted.
func restrict(pod *corev1.Pod) {
	uid := int64(65532)
	yes, no := true, false
	pod.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsNonRoot: &yes, RunAsUser: &uid, RunAsGroup: &uid,
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}}
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range cs {
			cs[i].SecurityContext = &corev1.SecurityContext{AllowPrivilegeEscalation: &no,
				Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}}
		}
	}
	grace := int64(2)
	pod.Spec.TerminationGracePeriodSeconds = &grace
}

// dryRunOrdered creates a pod with a server-side dry run (admission runs,
// nothing is stored) and returns it as admitted; an error unless podseq
// ordered it.
func dryRunOrdered(t *T, ns, name string) (*corev1.Pod, error) {
	pod := orderedPod(name)
	pod.APIVersion, pod.Kind = "v1", "Pod"
	b, _ := json.Marshal(pod)
	cmd := t.Cluster.KubectlCmd(t.Ctx, "create", "-n", ns, "--dry-run=server", "-o", "json", "-f", "-")
	cmd.Stdin = strings.NewReader(string(b))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("kubectl create --dry-run=server: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	var got corev1.Pod
	if err := json.Unmarshal(out, &got); err != nil {
		return nil, err
	}
	if got.Annotations["podseq.dev/injected"] == "" {
		return &got, fmt.Errorf("pod %s admitted unordered (annotations %v; kubectl said %q)", name, got.Annotations, strings.TrimSpace(stderr.String()))
	}
	return &got, nil
}

// webhookOriginals applies manifests/inject as it is (no podseq inject):
// the webhook orders the Deployment's and the Job's pods.
func webhookOriginals(t *T, ns string) error {
	cmd := t.Cluster.KubectlCmd(t.Ctx, "apply", "-k", filepath.Join(t.Repo, "manifests", "inject"), "-n", ns, "-o", "name")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("kubectl apply -k manifests/inject: %w: %s", err, out)
	}
	if _, err := t.Kubectl("rollout", "status", "-n", ns, "--timeout=180s", "deployment/inject-web"); err != nil {
		t.describeNamespace(ns)
		return err
	}
	if _, err := t.Kubectl("wait", "-n", ns, "--timeout=180s", "--for=condition=Complete", "job/inject-job"); err != nil {
		t.describeNamespace(ns)
		return err
	}
	pods, err := t.Pods(ns, "app.kubernetes.io/name=inject-web")
	if err != nil || len(pods) != 1 {
		return fmt.Errorf("inject-web: %d pods (%v)", len(pods), err)
	}
	p := pods[0]
	if !strings.HasPrefix(p.Annotations["podseq.dev/injected"], "gate: ") || p.Spec.Containers[0].Name != "proxy" {
		return fmt.Errorf("inject-web's pod was not ordered: injected %q, first container %s", p.Annotations["podseq.dev/injected"], p.Spec.Containers[0].Name)
	}
	line, err := t.LogLine(ns, p.Name, "app", "app: the proxy says:")
	if err != nil {
		return err
	}
	if !strings.HasSuffix(line.Text, "the proxy says: ready") {
		return fmt.Errorf("the app started before the proxy was ready: %q", line.Text)
	}
	return nil
}

// webhookMesh runs a mutating webhook of the test's own, called after
// podseq's (configurations are called in the order of their names), that
// adds a mesh-proxy to every pod of its namespace, as Istio's injector does.
// podseq, invoked again, orders the app after it.
func webhookMesh(t *T) error {
	stop, err := startMeshWebhook(t)
	if err != nil {
		return err
	}
	defer stop()
	ns, err := t.Namespace("webhook-mesh", true)
	if err != nil {
		return err
	}
	if _, err := t.Kubectl("label", "namespace", ns, "podseq.dev/inject=enabled", "e2e.podseq.dev/mesh=enabled"); err != nil {
		return err
	}
	app := sleeper("app")
	app.Command = []string{"sh", "-c", fmt.Sprintf("echo \"app: mesh says: $(wget -q -O- http://localhost:%d/ready 2>&1)\"; trap 'exit 0' TERM; while true; do sleep 1; done", meshPort)}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "meshed", Annotations: map[string]string{"after.podseq.dev/app": "mesh-proxy"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{app}}}
	restrict(pod)
	// The mesh webhook may not be called at once: its configuration is new.
	if err := proc.Poll(t.Ctx, 60*time.Second, 2*time.Second, func() error {
		_ = exec.CommandContext(t.Ctx, t.Cluster.Bin["kubectl"], "--kubeconfig="+t.Cluster.AdminKubeconfig(), "delete", "pod", "-n", ns, "meshed", "--ignore-not-found", "--wait=true").Run()
		if err := t.CreatePod(ns, pod.DeepCopy()); err != nil {
			return err
		}
		got, err := t.Kubectl("get", "pod", "-n", ns, "meshed", "-o", "jsonpath={.spec.containers[*].name} {.spec.initContainers[*].name}")
		if err != nil {
			return err
		}
		if !strings.Contains(got, "mesh-proxy") {
			return fmt.Errorf("no mesh-proxy yet: %s", got)
		}
		return nil
	}); err != nil {
		return err
	}
	if _, err := t.Kubectl("wait", "-n", ns, "--timeout=120s", "--for=condition=Ready", "pod/meshed"); err != nil {
		t.describeNamespace(ns)
		return err
	}
	pods, err := t.Pods(ns, "")
	if err != nil || len(pods) != 1 {
		return fmt.Errorf("%d pods (%v)", len(pods), err)
	}
	p := pods[0]
	if p.Annotations["podseq.dev/injected"] == "" || p.Annotations["podseq.dev/not-injected"] != "" {
		return fmt.Errorf("after reinvocation: injected %q, not-injected %q", p.Annotations["podseq.dev/injected"], p.Annotations["podseq.dev/not-injected"])
	}
	line, err := t.LogLine(ns, p.Name, "app", "app: mesh says:")
	if err != nil {
		return err
	}
	if !strings.HasSuffix(line.Text, "mesh says: ready") {
		return fmt.Errorf("the app started before mesh-proxy was ready: %q", line.Text)
	}
	t.Figure("mesh", "%s", p.Annotations["podseq.dev/injected"])
	return nil
}

// startMeshWebhook serves the mesh webhook on the node's address with a
// certificate of the cluster's CA and registers it; stop removes both.
func startMeshWebhook(t *T) (stop func(), err error) {
	name := "e2e-mesh-webhook"
	certFile, keyFile, caFile, err := t.Cluster.IssueServerCert(name, net.ParseIP(cluster.NodeIP))
	if err != nil {
		return nil, err
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	ln, err := tls.Listen("tcp", net.JoinHostPort(cluster.NodeIP, "0"), &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: http.HandlerFunc(meshMutate), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	ca, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	// zz-: called after podseq's configuration, so podseq first sees the
	// pod without mesh-proxy and orders it once invoked again.
	cfg := fmt.Sprintf(`{"apiVersion":"admissionregistration.k8s.io/v1","kind":"MutatingWebhookConfiguration",
"metadata":{"name":"zz-e2e-mesh"},"webhooks":[{"name":"mesh.e2e.podseq.dev","admissionReviewVersions":["v1"],
"clientConfig":{"url":"https://%s/mutate","caBundle":%q},
"rules":[{"apiGroups":[""],"apiVersions":["v1"],"operations":["CREATE"],"resources":["pods"]}],
"namespaceSelector":{"matchLabels":{"e2e.podseq.dev/mesh":"enabled"}},
"failurePolicy":"Fail","sideEffects":"None","timeoutSeconds":10,"reinvocationPolicy":"Never"}]}`,
		ln.Addr().String(), base64.StdEncoding.EncodeToString(ca))
	cmd := t.Cluster.KubectlCmd(t.Ctx, "apply", "-f", "-")
	cmd.Stdin = strings.NewReader(cfg)
	if out, err := cmd.CombinedOutput(); err != nil {
		_ = srv.Close()
		return nil, fmt.Errorf("register the mesh webhook: %w: %s", err, out)
	}
	return func() {
		_, _ = t.Kubectl("delete", "mutatingwebhookconfiguration", "zz-e2e-mesh", "--ignore-not-found")
		_ = srv.Close()
	}, nil
}

// meshMutate adds mesh-proxy, a proxy ready 3 s after it starts, to a pod
// that has none.
func meshMutate(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 4<<20))
	var review struct {
		Request struct {
			UID    string     `json:"uid"`
			Object corev1.Pod `json:"object"`
		} `json:"request"`
	}
	if err := json.Unmarshal(body, &review); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	pod := review.Request.Object
	has := false
	for _, c := range append(append([]corev1.Container{}, pod.Spec.Containers...), pod.Spec.InitContainers...) {
		has = has || c.Name == "mesh-proxy"
	}
	resp := map[string]any{"uid": review.Request.UID, "allowed": true}
	if !has {
		no := false
		proxy := corev1.Container{Name: "mesh-proxy", Image: manifestBusyboxImage, ImagePullPolicy: corev1.PullIfNotPresent,
			Command: []string{"sh", "-c", fmt.Sprintf("sleep 3; mkdir -p /tmp/www && echo ready > /tmp/www/ready; exec httpd -f -p %d -h /tmp/www", meshPort)},
			Ports:   []corev1.ContainerPort{{Name: "mesh", ContainerPort: meshPort}},
			ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/ready", Port: intstr.FromInt32(meshPort)}},
				PeriodSeconds: 1},
			SecurityContext: &corev1.SecurityContext{AllowPrivilegeEscalation: &no, Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}},
		}
		path := "/spec/containers/-"
		if meshNative {
			always := corev1.ContainerRestartPolicyAlways
			proxy.RestartPolicy = &always
			path = "/spec/initContainers/-"
			if len(pod.Spec.InitContainers) == 0 {
				path = "/spec/initContainers"
			}
		}
		var value any = proxy
		if path == "/spec/initContainers" {
			value = []corev1.Container{proxy}
		}
		patch, _ := json.Marshal([]map[string]any{{"op": "add", "path": path, "value": value}})
		resp["patchType"] = "JSONPatch"
		resp["patch"] = patch
	}
	out, _ := json.Marshal(map[string]any{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": resp})
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(out)
}

// webhookBadAnnotation: a pod naming a container it does not have is
// created, unordered, and kubectl prints podseq's warning.
func webhookBadAnnotation(t *T, ns string) error {
	pod := orderedPod("bad-annotation")
	pod.Annotations["after.podseq.dev/app"] = "prxy"
	pod.APIVersion, pod.Kind = "v1", "Pod"
	b, _ := json.Marshal(pod)
	cmd := t.Cluster.KubectlCmd(t.Ctx, "create", "-n", ns, "-f", "-")
	cmd.Stdin = strings.NewReader(string(b))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if out, err := cmd.Output(); err != nil {
		return fmt.Errorf("kubectl create: %w: %s %s", err, out, stderr.String())
	}
	want := "Warning: podseq: pod " + ns + "/bad-annotation: container prxy: after.podseq.dev/app: no such container in the pod (containers: app, proxy)"
	if !strings.Contains(stderr.String(), want) {
		return fmt.Errorf("kubectl create printed %q, want %q", stderr.String(), want)
	}
	got, err := t.Kubectl("get", "pod", "-n", ns, "bad-annotation", "-o", `jsonpath={.metadata.annotations.podseq\.dev/not-injected}`)
	if err != nil || !strings.HasPrefix(got, "container prxy: ") {
		return fmt.Errorf("the pod's podseq.dev/not-injected: %q (%v)", got, err)
	}
	t.Figure("warning", "%s", strings.TrimPrefix(strings.TrimSpace(stderr.String()), "Warning: "))
	return nil
}

// webhookDown: with both replicas gone, pods are still created
// (failurePolicy Ignore), and `kubectl podseq unordered` finds them.
func webhookDown(t *T, ns string) error {
	if _, err := t.Kubectl("scale", "-n", webhookNS, "deployment/podseq-webhook", "--replicas=0"); err != nil {
		return err
	}
	restore := func() error {
		if _, err := t.Kubectl("scale", "-n", webhookNS, "deployment/podseq-webhook", "--replicas=2"); err != nil {
			return err
		}
		_, err := t.Kubectl("rollout", "status", "-n", webhookNS, "--timeout=180s", "deployment/podseq-webhook")
		return err
	}
	if err := proc.Poll(t.Ctx, 90*time.Second, time.Second, func() error {
		pods, err := t.Pods(webhookNS, "app.kubernetes.io/name=podseq-webhook")
		if err == nil && len(pods) > 0 {
			err = fmt.Errorf("%d webhook pods left", len(pods))
		}
		return err
	}); err != nil {
		_ = restore()
		return err
	}
	began := time.Now()
	if err := t.CreatePod(ns, orderedPod("while-down")); err != nil {
		_ = restore()
		return fmt.Errorf("with the webhook down: %w", err)
	}
	t.Figure("create while down", "%s", time.Since(began).Round(time.Millisecond))
	if err := restore(); err != nil {
		return err
	}
	// kubectl podseq unordered, as an operator runs it (kubectl on PATH).
	cmd := exec.CommandContext(t.Ctx, filepath.Join(t.Repo, "bin", "kubectl-podseq"), "unordered", "-n", ns)
	cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(t.Cluster.Bin["kubectl"])+":"+os.Getenv("PATH"), "KUBECONFIG="+t.Cluster.AdminKubeconfig())
	out, err := cmd.Output()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		return fmt.Errorf("kubectl podseq unordered: %v (want exit 3), output %q", err, out)
	}
	if !regexp.MustCompile(`(?m)^\S+\s+while-down\s+not seen by the webhook`).Match(out) ||
		!regexp.MustCompile(`(?m)^\S+\s+bad-annotation\s+container prxy: `).Match(out) {
		return fmt.Errorf("kubectl podseq unordered:\n%s\nwant while-down (not seen) and bad-annotation (its reason)", out)
	}
	t.Logf("kubectl podseq unordered -n %s:\n%s", ns, out)
	return nil
}

// webhookRotation renews the serving certificate (a Job from the certs
// Job's template, with --renew) and creates pods, server-side dry runs,
// until both replicas serve the new certificate: every one is ordered.
func webhookRotation(t *T, ns string) error {
	before, err := t.Kubectl("get", "secret", "-n", webhookNS, "podseq-webhook-tls", "-o", "jsonpath={.data.tls\\.crt}")
	if err != nil {
		return err
	}
	raw, err := t.Kubectl("get", "job", "-n", webhookNS, "podseq-webhook-certs", "-o", "json")
	if err != nil {
		return err
	}
	var job struct {
		Spec struct {
			Template corev1.PodTemplateSpec `json:"template"`
		} `json:"spec"`
	}
	if err := json.Unmarshal([]byte(raw), &job); err != nil {
		return err
	}
	tmpl := job.Spec.Template
	tmpl.Labels = map[string]string{"app.kubernetes.io/name": "podseq-webhook-certs-renew"}
	tmpl.Spec.Containers[0].Args = []string{"webhook", "certs", "--renew"}
	renew := map[string]any{"apiVersion": "batch/v1", "kind": "Job", "metadata": map[string]any{"name": "e2e-renew", "namespace": webhookNS},
		"spec": map[string]any{"backoffLimit": 3, "template": tmpl}}
	b, _ := json.Marshal(renew)
	cmd := t.Cluster.KubectlCmd(t.Ctx, "create", "-f", "-")
	cmd.Stdin = strings.NewReader(string(b))
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("create the renewal Job: %w: %s", err, out)
	}
	if _, err := t.Kubectl("wait", "-n", webhookNS, "--timeout=120s", "--for=condition=Complete", "job/e2e-renew"); err != nil {
		return err
	}
	after, err := t.Kubectl("get", "secret", "-n", webhookNS, "podseq-webhook-tls", "-o", "jsonpath={.data.tls\\.crt}")
	if err != nil {
		return err
	}
	if after == before {
		return errors.New("the renewal Job left the same certificate")
	}
	newPEM, _ := base64.StdEncoding.DecodeString(after)
	began := time.Now()
	created := 0
	err = proc.Poll(t.Ctx, 4*time.Minute, time.Second, func() error {
		created++
		if _, err := dryRunOrdered(t, ns, fmt.Sprintf("rotation-%d", created)); err != nil {
			return proc.GiveUp(fmt.Errorf("while the certificate rotated: %w", err))
		}
		pods, err := t.Pods(webhookNS, "app.kubernetes.io/name=podseq-webhook")
		if err != nil {
			return err
		}
		for _, p := range pods {
			if served, err := servedCert(p.Status.PodIP + ":9443"); err != nil || !strings.Contains(string(newPEM), served) {
				return fmt.Errorf("%s does not serve the new certificate yet (%v)", p.Name, err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	t.Figure("rotation", "both replicas served the new certificate %s after the renewal; %d pods created meanwhile, all ordered", time.Since(began).Round(time.Second), created)
	return nil
}

// servedCert returns, base64, the DER certificate served at addr.
func servedCert(addr string) (string, error) {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		return "", err
	}
	defer conn.Close()
	der := conn.ConnectionState().PeerCertificates[0].Raw
	// PEM's base64 wraps at 64 characters: compare the first line.
	s := base64.StdEncoding.EncodeToString(der)
	return s[:64], nil
}
