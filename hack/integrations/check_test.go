package integrations

import (
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// testImage is the podseq image the tests ask inject to write.
const testImage = "registry.example/podseq:v9.9.9"

// documents splits a YAML stream into its documents, blank ones left out.
func documents(stream string) []string {
	var docs []string
	for _, d := range strings.Split("\n"+stream, "\n---") {
		if strings.TrimSpace(stripComments(d)) != "" {
			docs = append(docs, d)
		}
	}
	return docs
}

func stripComments(doc string) string {
	var b strings.Builder
	for _, l := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// deploymentIn decodes, strictly, the one Deployment of a stream.
func deploymentIn(t *testing.T, stream string) *appsv1.Deployment {
	t.Helper()
	var found *appsv1.Deployment
	for _, doc := range documents(stream) {
		var meta struct{ Kind string }
		if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
			t.Fatalf("output is not YAML: %v\n%s", err, stream)
		}
		if meta.Kind != "Deployment" {
			continue
		}
		if found != nil {
			t.Fatalf("two Deployments in:\n%s", stream)
		}
		found = &appsv1.Deployment{}
		if err := yaml.UnmarshalStrict([]byte(doc), found); err != nil {
			t.Fatalf("the Deployment does not decode strictly: %v\n%s", err, doc)
		}
	}
	if found == nil {
		t.Fatalf("no Deployment in:\n%s", stream)
	}
	return found
}

// checkOrdered checks that the pod template of the test's Deployment (an
// app after a proxy sidecar, as after.podseq.dev/app: proxy asks) is
// injected in gate mode: podseq installed by an init container of the given
// image, the proxy moved first and holding the app back with a postStart
// hook that waits for its readiness, the app's own command behind the same
// wait, and inject's annotations.
func checkOrdered(t *testing.T, stream, image, timeout string) {
	t.Helper()
	d := deploymentIn(t, stream)
	spec := d.Spec.Template.Spec
	var names []string
	for _, c := range spec.Containers {
		names = append(names, c.Name)
	}
	if !slices.Equal(names, []string{"proxy", "app"}) {
		t.Errorf("containers %v, want proxy then app", names)
	}
	if len(spec.InitContainers) != 1 || spec.InitContainers[0].Image != image ||
		!slices.Equal(spec.InitContainers[0].Args, []string{"install", "/podseq-bin"}) {
		t.Errorf("init containers %+v, want podseq install from %s", spec.InitContainers, image)
	}
	wait := []string{"/podseq-bin/podseq", "wait", "--timeout=" + timeout, "http://localhost:9901/ready"}
	proxy, app := container(spec.Containers, "proxy"), container(spec.Containers, "app")
	if proxy == nil || app == nil {
		t.Fatalf("containers %v", names)
	}
	if proxy.Lifecycle == nil || proxy.Lifecycle.PostStart == nil || proxy.Lifecycle.PostStart.Exec == nil ||
		!slices.Equal(proxy.Lifecycle.PostStart.Exec.Command, wait) {
		t.Errorf("proxy's postStart %+v, want exec %q", proxy.Lifecycle, wait)
	}
	if want := append(slices.Clone(wait), "--", "/app", "--listen=:8080"); !slices.Equal(app.Command, want) {
		t.Errorf("app's command %q, want %q", app.Command, want)
	}
	a := d.Spec.Template.Annotations
	if a["after.podseq.dev/app"] != "proxy" || !strings.HasPrefix(a["podseq.dev/injected"], "gate: app after proxy") || a["podseq.dev/undo"] == "" {
		t.Errorf("template annotations %v", a)
	}
	if !hasVolume(spec.Volumes, "podseq-bin") {
		t.Errorf("no podseq-bin volume: %+v", spec.Volumes)
	}
}

func container(cs []corev1.Container, name string) *corev1.Container {
	for i := range cs {
		if cs[i].Name == name {
			return &cs[i]
		}
	}
	return nil
}

func hasVolume(vs []corev1.Volume, name string) bool {
	for _, v := range vs {
		if v.Name == name && v.EmptyDir != nil {
			return true
		}
	}
	return false
}
