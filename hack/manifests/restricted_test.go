package manifests

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
)

// restricted is the Pod Security Standard every manifest meets: the
// "restricted" level at its latest version, as the admission controller
// enforces it in a namespace labelled pod-security.kubernetes.io/enforce:
// restricted.
var restricted = api.LevelVersion{Level: api.LevelRestricted, Version: api.LatestVersion()}

// evaluator is the Pod Security evaluator with the library's checks, made once.
var evaluator = sync.OnceValues(func() (policy.Evaluator, error) { return policy.NewEvaluator(policy.DefaultChecks()) })

// checkRestricted reports everything that keeps the pod out of a restricted
// namespace (the pod-security-admission library's own checks, over init and
// regular containers), and every container that runs without a numeric,
// non-root runAsUser: podseq's image names user 65532, but busybox's runs as
// root, and runAsNonRoot alone then makes kubelet refuse to start it.
func checkRestricted(p podCtx) {
	eval, err := evaluator()
	if err != nil {
		p.errorf("the Pod Security evaluator: %v", err)
		return
	}
	for _, r := range eval.EvaluatePod(restricted, p.meta, p.spec) {
		if !r.Allowed {
			p.errorf("Pod Security %s: %s (%s)", restricted.String(), r.ForbiddenReason, r.ForbiddenDetail)
		}
	}
	var podUser *int64
	if p.spec.SecurityContext != nil {
		podUser = p.spec.SecurityContext.RunAsUser
	}
	for _, c := range append(slices.Clone(p.spec.InitContainers), p.spec.Containers...) {
		uid := podUser
		if c.SecurityContext != nil && c.SecurityContext.RunAsUser != nil {
			uid = c.SecurityContext.RunAsUser
		}
		if uid == nil || *uid == 0 {
			p.errorf("%s: %s: give a numeric non-root runAsUser (65532) in the container's or the pod's securityContext", c.Name, describeUID(uid))
		}
	}
}

// describeUID says what a container's effective runAsUser is.
func describeUID(uid *int64) string {
	if uid == nil {
		return "no runAsUser, so the image's user"
	}
	return fmt.Sprintf("runAsUser %d", *uid)
}

// containerSC returns c's securityContext, created if it has none.
func containerSC(c *corev1.Container) *corev1.SecurityContext {
	if c.SecurityContext == nil {
		c.SecurityContext = &corev1.SecurityContext{}
	}
	return c.SecurityContext
}

// loadFile reads and decodes a file of manifests/ (file is relative to it).
func loadFile(t *testing.T, file string) []object {
	t.Helper()
	data, err := os.ReadFile(root + "/" + file)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := decodeFile(file, data)
	if err != nil {
		t.Fatalf("decode %s: %v", file, err)
	}
	return objs
}

// loadPod decodes the first object of a manifest file and returns its pod.
func loadPod(t *testing.T, file string) (object, *metav1.ObjectMeta, *corev1.PodSpec) {
	t.Helper()
	objs := loadFile(t, file)
	if len(objs) == 0 {
		t.Fatalf("decode %s: no object", file)
	}
	spec, meta := podSpec(objs[0].obj)
	if spec == nil {
		t.Fatalf("%s: the first object has no pod", file)
	}
	return objs[0], meta, spec
}

// TestRestrictedCatches breaks a manifest's securityContext in each way Pod
// Security "restricted" forbids, in a regular container (manifests/demo) and
// in an init container (manifests/install), and expects each reported.
func TestRestrictedCatches(t *testing.T) {
	check := func(o object, meta *metav1.ObjectMeta, spec *corev1.PodSpec) []string {
		var got []string
		checkRestricted(podCtx{report: func(m string) { got = append(got, m) }, obj: o, meta: meta, spec: spec})
		return got
	}
	yes, no := true, false
	root := int64(0)
	cases := []struct {
		name   string
		mutate func(c *corev1.Container, spec *corev1.PodSpec)
		want   string
	}{
		{"no seccompProfile", func(c *corev1.Container, _ *corev1.PodSpec) { containerSC(c).SeccompProfile = nil }, "seccompProfile"},
		{"unconfined seccomp", func(c *corev1.Container, _ *corev1.PodSpec) {
			containerSC(c).SeccompProfile = &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeUnconfined}
		}, "seccompProfile"},
		{"privilege escalation", func(c *corev1.Container, _ *corev1.PodSpec) { containerSC(c).AllowPrivilegeEscalation = &yes }, "allowPrivilegeEscalation != false"},
		{"privilege escalation unset", func(c *corev1.Container, _ *corev1.PodSpec) { containerSC(c).AllowPrivilegeEscalation = nil }, "allowPrivilegeEscalation != false"},
		{"capabilities kept", func(c *corev1.Container, _ *corev1.PodSpec) { containerSC(c).Capabilities = nil }, "unrestricted capabilities"},
		{"capability added", func(c *corev1.Container, _ *corev1.PodSpec) {
			containerSC(c).Capabilities.Add = []corev1.Capability{"NET_RAW"}
		}, "unrestricted capabilities"},
		{"may run as root", func(c *corev1.Container, _ *corev1.PodSpec) { containerSC(c).RunAsNonRoot = &no }, "runAsNonRoot != true"},
		{"runAsNonRoot unset", func(c *corev1.Container, _ *corev1.PodSpec) { containerSC(c).RunAsNonRoot = nil }, "runAsNonRoot != true"},
		{"root user", func(c *corev1.Container, _ *corev1.PodSpec) { containerSC(c).RunAsUser = &root }, "runAsUser=0"},
		{"image's user", func(c *corev1.Container, _ *corev1.PodSpec) { containerSC(c).RunAsUser = nil }, "numeric non-root runAsUser"},
		{"privileged", func(c *corev1.Container, _ *corev1.PodSpec) { containerSC(c).Privileged = &yes }, "privileged"},
		{"no securityContext", func(c *corev1.Container, _ *corev1.PodSpec) { c.SecurityContext = nil }, "seccompProfile"},
		{"hostPath", func(_ *corev1.Container, spec *corev1.PodSpec) {
			spec.Volumes = append(spec.Volumes, corev1.Volume{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/run"}}})
		}, "restricted volume types"},
		{"host network", func(_ *corev1.Container, spec *corev1.PodSpec) { spec.HostNetwork = true }, "host namespaces"},
	}
	for _, where := range []struct {
		file      string
		container func(spec *corev1.PodSpec) *corev1.Container
	}{
		{"demo/deployment.yaml", func(spec *corev1.PodSpec) *corev1.Container { return &spec.Containers[1] }},
		{"install/deployment.yaml", func(spec *corev1.PodSpec) *corev1.Container { return &spec.InitContainers[0] }},
	} {
		o, meta, spec := loadPod(t, where.file)
		if got := check(o, meta, spec); got != nil {
			t.Fatalf("%s itself: %q", where.file, got)
		}
		for _, c := range cases {
			t.Run(where.file+"/"+c.name, func(t *testing.T) {
				o, meta, spec := loadPod(t, where.file)
				ctr := where.container(spec)
				c.mutate(ctr, spec)
				got := check(o, meta, spec)
				if !slices.ContainsFunc(got, func(m string) bool { return strings.Contains(m, c.want) }) {
					t.Errorf("container %s: got %q, want a report holding %q", ctr.Name, got, c.want)
				}
			})
		}
	}
}

// TestRestrictedPodLevel: what the pod's securityContext sets holds for
// every container that does not override it, as kubelet applies it.
func TestRestrictedPodLevel(t *testing.T) {
	o, meta, spec := loadPod(t, "install/deployment.yaml")
	uid := int64(65532)
	yes := true
	spec.SecurityContext = &corev1.PodSecurityContext{RunAsUser: &uid, RunAsNonRoot: &yes,
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}}
	for i := range spec.InitContainers {
		sc := containerSC(&spec.InitContainers[i])
		sc.RunAsUser, sc.RunAsNonRoot, sc.SeccompProfile = nil, nil, nil
	}
	for i := range spec.Containers {
		sc := containerSC(&spec.Containers[i])
		sc.RunAsUser, sc.RunAsNonRoot, sc.SeccompProfile = nil, nil, nil
	}
	var got []string
	checkRestricted(podCtx{report: func(m string) { got = append(got, m) }, obj: o, meta: meta, spec: spec})
	if got != nil {
		t.Errorf("pod-level user, runAsNonRoot and seccompProfile: got %q", got)
	}
}
