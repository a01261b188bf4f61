package manifests

import (
	"os"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// TestChecksCatch breaks the demo in the ways the semantic checks exist for,
// one at a time, and expects each to be reported.
func TestChecksCatch(t *testing.T) {
	data, err := os.ReadFile(root + "/demo/deployment.yaml")
	if err != nil {
		t.Fatal(err)
	}
	fresh := func(t *testing.T) (object, *appsv1.Deployment) {
		t.Helper()
		objs, err := decodeFile("demo/deployment.yaml", data)
		if err != nil || len(objs) != 1 {
			t.Fatalf("decode the demo: %v", err)
		}
		return objs[0], objs[0].obj.(*appsv1.Deployment)
	}
	check := func(o object, d *appsv1.Deployment, extra ...object) []string {
		var got []string
		all := append([]object{o}, extra...)
		checkPod(func(m string) { got = append(got, m) }, o, &d.Spec.Template.ObjectMeta, &d.Spec.Template.Spec, all)
		return got
	}

	o, d := fresh(t)
	if got := check(o, d); got != nil {
		t.Fatalf("the demo itself: %q", got)
	}

	hook := func(d *appsv1.Deployment) *[]string {
		return &d.Spec.Template.Spec.Containers[0].Lifecycle.PostStart.Exec.Command
	}
	cases := []struct {
		name   string
		mutate func(d *appsv1.Deployment)
		want   string
	}{
		{"no timeout", func(d *appsv1.Deployment) {
			*hook(d) = slices.DeleteFunc(*hook(d), func(a string) bool { return strings.HasPrefix(a, "--timeout") })
		}, "needs a finite --timeout"},
		{"zero timeout", func(d *appsv1.Deployment) { (*hook(d))[2] = "--timeout=0s" }, "needs a finite --timeout"},
		{"no target", func(d *appsv1.Deployment) { *hook(d) = (*hook(d))[:3] }, "has no target"},
		{"binary not installed", func(d *appsv1.Deployment) {
			c := &d.Spec.Template.Spec.Containers[1]
			c.Lifecycle = &corev1.Lifecycle{PostStart: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{
				Command: []string{"/podseq-bin/podseq", "wait", "--timeout=1m", "http://localhost:15780/ready"}}}}
		}, "/podseq-bin/podseq does not exist"},
		{"podseq binary in busybox", func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.Containers[0].Image = "busybox:1.36"
		}, "/podseq does not exist"},
		{"admin port not declared", func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.Containers[0].Ports = nil
		}, "podseq run listens on :15780"},
		{"sidecar listed last", func(d *appsv1.Deployment) {
			cs := d.Spec.Template.Spec.Containers
			cs[1].Lifecycle = cs[0].Lifecycle
			cs[0].Lifecycle = nil
			cs[0], cs[1] = cs[1], cs[0]
		}, "which kubelet starts only after app"},
		{"unknown service", func(d *appsv1.Deployment) { (*hook(d))[3] = "tcp://nosuch:5432" }, "no Service named nosuch"},
		{"local port nobody serves", func(d *appsv1.Deployment) { (*hook(d))[3] = "http://localhost:9999/" }, "declares containerPort 9999"},
		{"writable root", func(d *appsv1.Deployment) {
			f := false
			d.Spec.Template.Spec.Containers[0].SecurityContext.ReadOnlyRootFilesystem = &f
		}, "readOnlyRootFilesystem"},
		{"always pull", func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.Containers[0].ImagePullPolicy = corev1.PullAlways
		}, "want IfNotPresent"},
		{"probe port", func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.Containers[0].ReadinessProbe.HTTPGet.Port.StrVal = "admin"
		}, "readinessProbe port admin"},
		{"missing volume", func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.Containers[1].VolumeMounts = []corev1.VolumeMount{{Name: "gone", MountPath: "/x"}}
		}, "names no volume"},
		{"untagged image", func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[1].Image = "busybox" }, "explicit tag"},
		{"native sidecar without startupProbe", func(d *appsv1.Deployment) {
			always := corev1.ContainerRestartPolicyAlways
			sc := d.Spec.Template.Spec.Containers[0]
			sc.RestartPolicy = &always
			sc.Lifecycle = nil
			d.Spec.Template.Spec.InitContainers = []corev1.Container{sc}
			d.Spec.Template.Spec.Containers = d.Spec.Template.Spec.Containers[1:]
		}, "without a startupProbe"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o, d := fresh(t)
			c.mutate(d)
			got := check(o, d)
			if !slices.ContainsFunc(got, func(m string) bool { return strings.Contains(m, c.want) }) {
				t.Errorf("got %q, want a report holding %q", got, c.want)
			}
		})
	}
}
