package main

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/podseq/podseq/hack/e2e/internal/node"
	corev1 "k8s.io/api/core/v1"
)

// Every gate candidate builds from the repository's manifests into the pod
// it claims: the app runs its image's argv (no command) except where the
// wrapped gate writes the registry's argv after podseq wait, and each
// holds the app by what its name says.
func TestGateVariantsBuild(t *testing.T) {
	dir := t.TempDir()
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	env := &Env{Repo: repo, Node: &node.Node{Dir: dir, Tools: dir, KubeletMinor: 37}, PodseqImage: podseqImage,
		BusyboxImage: busyboxImage, AppImage: appImage}
	tt := &T{Env: env, Ctx: context.Background(), Name: "test"}
	argv := []string{"/app.sh", "serve"}
	for _, v := range gateVariants {
		b, err := v.build(tt, "x-"+v.name, time.Second, argv)
		if err != nil {
			t.Fatalf("%s: %v", v.name, err)
		}
		app, err := b.Container("app")
		if err != nil {
			t.Fatal(err)
		}
		sidecar, err := b.Container("sidecar")
		if err != nil {
			t.Fatal(err)
		}
		native := sidecar.RestartPolicy != nil && *sidecar.RestartPolicy == corev1.ContainerRestartPolicyAlways
		hook := hookArgv(sidecar) != nil
		probe := sidecar.StartupProbe
		if app.Image != appImage || len(app.Args) != 0 {
			t.Errorf("%s: app %s args %q, want %s and no args", v.name, app.Image, app.Args, appImage)
		}
		switch v.name {
		case "wrapped":
			if !slices.Equal(app.Command[len(app.Command)-2:], argv) || app.Command[0] != "/podseq-bin/podseq" || b.Spec.InitContainers[0].Name != "podseq-install" {
				t.Errorf("wrapped: app command %q, init %v", app.Command, b.Spec.InitContainers)
			}
		default:
			if len(app.Command) != 0 {
				t.Errorf("%s: app command %q, want none", v.name, app.Command)
			}
		}
		wantNative := strings.HasPrefix(v.name, "native-")
		wantHook := v.name == "hook" || v.name == "wrapped" || v.name == "native-exec-hook"
		if native != wantNative || hook != wantHook {
			t.Errorf("%s: native %v hook %v, want %v %v", v.name, native, hook, wantNative, wantHook)
		}
		if strings.HasSuffix(v.name, "exec") || v.name == "native-exec-hook" {
			if probe == nil || probe.Exec == nil || !slices.Contains(probe.Exec.Command, podseqBin) ||
				!slices.Contains(probe.Exec.Command, "--timeout=2m") || probe.TimeoutSeconds <= 120 || probe.PeriodSeconds != 1 || probe.FailureThreshold != 1 {
				t.Errorf("%s: startupProbe %+v, want an exec of podseq wait --timeout=2m, timeoutSeconds above 120", v.name, probe)
			}
		}
		if v.name == "native-httpget" && (probe == nil || probe.HTTPGet == nil || !b.Spec.HostNetwork) {
			t.Errorf("native-httpget: startupProbe %+v hostNetwork %v", probe, b.Spec.HostNetwork)
		}
	}
}
