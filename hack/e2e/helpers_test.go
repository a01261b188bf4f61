package main

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// These cover the harness's pure helpers; the scenarios themselves need root
// and a kubelet, and run through `make e2e`.

func TestSetFlag(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		argv []string
		want []string
	}{
		{"equals form", []string{"/podseq", "wait", "--timeout=2m", "http://x"}, []string{"/podseq", "wait", "--timeout=5s", "http://x"}},
		{"separate value", []string{"wait", "--timeout", "2m", "http://x"}, []string{"wait", "--timeout", "5s", "http://x"}},
		{"absent: after the subcommand", []string{"/podseq", "wait", "http://x"}, []string{"/podseq", "wait", "--timeout=5s", "http://x"}},
		{"not past --", []string{"wait", "tcp://x", "--", "cmd", "--timeout=9s"}, []string{"wait", "--timeout=5s", "tcp://x", "--", "cmd", "--timeout=9s"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := setFlag(tc.argv, "wait", "timeout", "5s")
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("setFlag(%q) = %q, %v; want %q", tc.argv, got, err, tc.want)
			}
		})
	}
	if _, err := setFlag([]string{"run"}, "wait", "timeout", "5s"); err == nil {
		t.Error("setFlag without the subcommand: want an error")
	}
}

func TestSetBoolFlag(t *testing.T) {
	t.Parallel()
	got, err := setBoolFlag([]string{"/podseq", "wait", "http://x"}, "wait", "fail-open")
	if want := []string{"/podseq", "wait", "--fail-open", "http://x"}; err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, %v; want %q", got, err, want)
	}
	argv := []string{"wait", "--fail-open", "http://x"}
	if got, _ := setBoolFlag(argv, "wait", "fail-open"); !reflect.DeepEqual(got, argv) {
		t.Errorf("already set: got %q, want it unchanged", got)
	}
}

func TestSplitYAML(t *testing.T) {
	t.Parallel()
	docs := splitYAML([]byte("# c\nkind: A\n---\n---\nkind: B\n--- # x\nkind: C\n"))
	if len(docs) != 3 || string(docs[1]) != "kind: B\n" {
		t.Errorf("got %q", docs)
	}
}

func TestLoadPodSpec(t *testing.T) {
	t.Parallel()
	repo := t.TempDir()
	dir := filepath.Join(repo, "manifests", "x")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	svc := "apiVersion: v1\nkind: Service\nmetadata: {name: s}\n"
	dep := "apiVersion: apps/v1\nkind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n      - {name: app, image: busybox}\n"
	if err := os.WriteFile(filepath.Join(dir, "a.yaml"), []byte(svc+"---\n"+dep), 0o644); err != nil {
		t.Fatal(err)
	}
	e := &Env{Repo: repo}
	spec, file, err := e.LoadPodSpec("x", "")
	if err != nil || file != "x/a.yaml" || len(spec.Containers) != 1 || spec.Containers[0].Name != "app" {
		t.Fatalf("LoadPodSpec = %+v, %q, %v", spec, file, err)
	}
	if _, _, err := e.LoadPodSpec("x", "Pod"); err == nil {
		t.Error("no Pod in x: want an error")
	}
	if _, _, err := e.LoadPodSpec("missing", ""); err == nil {
		t.Error("missing manifest: want an error")
	}
}

func TestAdaptProbes(t *testing.T) {
	t.Parallel()
	spec := &corev1.PodSpec{Containers: []corev1.Container{{
		Name:  "c",
		Ports: []corev1.ContainerPort{{Name: "admin", ContainerPort: 15780}},
		ReadinessProbe: &corev1.Probe{PeriodSeconds: 5, ProbeHandler: corev1.ProbeHandler{
			HTTPGet: &corev1.HTTPGetAction{Path: "ready", Port: intstr.FromString("admin")}}},
		LivenessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{
			TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt(8080)}}},
	}}}
	b := &PodBuilder{Name: "p", Spec: spec}
	if err := b.adaptProbes(); err != nil {
		t.Fatal(err)
	}
	r := spec.Containers[0].ReadinessProbe
	if r.Exec == nil || r.HTTPGet != nil || r.PeriodSeconds != 5 ||
		!reflect.DeepEqual(r.Exec.Command, []string{shell, "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:15780/ready"}) {
		t.Errorf("readiness probe: %+v", r)
	}
	if l := spec.Containers[0].LivenessProbe; l.Exec == nil || l.TCPSocket != nil {
		t.Errorf("liveness probe: %+v", l)
	}
	spec.Containers[0].StartupProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{
		HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromString("nope")}}}
	if err := b.adaptProbes(); err == nil {
		t.Error("unknown named port: want an error")
	}
}

func TestMedian(t *testing.T) {
	t.Parallel()
	ms := time.Millisecond
	for _, tc := range []struct {
		in   []time.Duration
		want time.Duration
	}{
		{nil, 0},
		{[]time.Duration{3 * ms}, 3 * ms},
		{[]time.Duration{5 * ms, 1 * ms, 3 * ms}, 3 * ms},
		{[]time.Duration{4 * ms, 1 * ms, 2 * ms, 3 * ms}, 2500 * time.Microsecond},
	} {
		if got := median(tc.in); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// TestSelectScenarios: make e2e runs every scenario but the benchmarks;
// -bench adds them; -run picks by name, benchmarks included; the cluster
// scenarios need a cluster.
func TestSelectScenarios(t *testing.T) {
	names := func(ss []Scenario) string {
		var n []string
		for _, s := range ss {
			n = append(n, s.Name)
		}
		return strings.Join(n, " ")
	}
	all := []Scenario{{Name: "order"}, {Name: "compare", Bench: true, Timed: true}, {Name: "cluster-demo", Cluster: true}}
	for _, tc := range []struct {
		run            string
		bench, cluster bool
		want           string
	}{
		{"", false, true, "order cluster-demo"},
		{"", true, true, "order compare cluster-demo"},
		{"", false, false, "order"},
		{"compare", false, true, "compare"},
		{"o", false, false, "order compare"},
	} {
		var f *regexp.Regexp
		if tc.run != "" {
			f = regexp.MustCompile(tc.run)
		}
		if got := names(selectScenarios(all, f, tc.bench, tc.cluster)); got != tc.want {
			t.Errorf("-run %q -bench=%v cluster=%v: %q, want %q", tc.run, tc.bench, tc.cluster, got, tc.want)
		}
	}
	var bench []string
	for _, s := range scenarios() {
		if s.Bench {
			bench = append(bench, s.Name)
		}
	}
	if got := strings.Join(bench, " "); got != "compare delivery-compare gate-compare pleg-gate" {
		t.Errorf("benchmark scenarios: %s", got)
	}
}
