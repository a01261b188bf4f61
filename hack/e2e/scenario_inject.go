package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// The manifests of manifests/inject have no podseq in them: each scenario
// runs the built podseq inject on one, then runs what it printed.

func init() {
	register(Scenario{
		Name: "inject-gate",
		Shows: "podseq inject on manifests/inject/deployment.yaml (an app listed before a proxy with a readinessProbe, " +
			"no podseq): the proxy is moved ahead and gated by a postStart hook; the app starts after the hook returned",
		Run: func(t *T) error { return injectOrder(t, "inject-gate", nil) },
	})
	register(Scenario{
		Name: "inject-native",
		Shows: "podseq inject --mode native on the same manifest: the proxy becomes a native sidecar gated by " +
			"podseq's postStart hook; the app starts after the hook returned",
		MinMinor: nativeSidecarsSince,
		Run:      func(t *T) error { return injectOrder(t, "inject-native", []string{"--mode", "native"}) },
	})
	register(Scenario{
		Name: "inject-job",
		Shows: "podseq inject on manifests/inject/job.yaml: tombstones order the Job's app after its proxy " +
			"and stop the proxy once the app exited: the pod reaches Succeeded",
		Run: injectJob,
	})
}

// injected runs bin/kubectl-podseq inject (make build) on manifests/rel and
// returns the pod spec of its output, which it also keeps in out/.
func injected(t *T, rel, name string, flags []string) (*corev1.PodSpec, error) {
	return injectedFile(t, filepath.Join(t.Repo, "manifests", rel), rel, name, flags)
}

// injectedFile is injected for the manifest at file, named rel in the
// figures.
func injectedFile(t *T, file, rel, name string, flags []string) (*corev1.PodSpec, error) {
	bin := filepath.Join(t.Repo, "bin", "kubectl-podseq")
	args := append([]string{"inject", "-f", file}, flags...)
	cmd := exec.CommandContext(t.Ctx, bin, args...)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s %s: %v: %s", bin, strings.Join(args, " "), err, stderr.String())
	}
	t.Figure("pod", "manifests/%s, through %s", rel, strings.Join(append([]string{"podseq inject"}, flags...), " "))
	if err := os.WriteFile(filepath.Join(t.Node.Dir, "out", name+".injected.yaml"), out.Bytes(), 0o644); err != nil {
		return nil, err
	}
	spec, _, err := podSpecIn(out.Bytes(), "")
	if err != nil || spec == nil {
		return nil, fmt.Errorf("inject's output: no pod spec (%v)", err)
	}
	return spec, nil
}

// injectOrder: the proxy's hook (inject's podseq wait) returns 0, and the
// app starts only after it.
func injectOrder(t *T, name string, flags []string) error {
	spec, err := injected(t, "inject/deployment.yaml", name, flags)
	if err != nil {
		return err
	}
	b, err := t.NewPod(name, spec)
	if err != nil {
		return err
	}
	proxy, err := b.Container("proxy")
	if err != nil {
		return err
	}
	if h := hookArgv(proxy); h == nil || (*h)[0] != "/podseq-bin/podseq" {
		return fmt.Errorf("inject gave the proxy no podseq postStart hook: %+v", proxy.Lifecycle)
	}
	native := slices.Contains(flags, "native")
	if isInit := proxy.RestartPolicy != nil && *proxy.RestartPolicy == corev1.ContainerRestartPolicyAlways; isInit != native {
		return fmt.Errorf("proxy restartPolicy %v, want a native sidecar: %v", proxy.RestartPolicy, native)
	}
	if err := stampHook(b, proxy); err != nil {
		return err
	}
	app, err := b.Container("app")
	if err != nil {
		return err
	}
	// inject wrapped the app's command: podseq wait TARGET -- CMD. Stamp
	// the start of CMD, which podseq execs once the proxy is ready.
	if len(app.Command) == 0 || app.Command[0] != "/podseq-bin/podseq" || !slices.Contains(app.Command, "--") {
		return fmt.Errorf("inject did not make the app wait in its own start: command %q", app.Command)
	}
	if err := b.WrapChild(app, Stamp("app.started")); err != nil {
		return err
	}
	if err := b.Start(); err != nil {
		return err
	}
	defer t.Stop(b)
	appStarted, err := t.WaitStamp(b, "app.started", 60*time.Second)
	if err != nil {
		return fmt.Errorf("%w; %s", err, podDiag(t, b))
	}
	hookEnd, err := b.ReadStamp("hook.end")
	if err != nil {
		return fmt.Errorf("the app started and the proxy's hook never ended: %w", err)
	}
	if rc := strings.Join(hookCodes(b, ""), " "); rc != "0" {
		return fmt.Errorf("inject's podseq wait exited %q, want 0", rc)
	}
	if !appStarted.After(hookEnd) {
		return fmt.Errorf("the app started %s, before the proxy's hook returned %s", appStarted, hookEnd)
	}
	started, _ := b.ReadStamp("sidecar.started")
	t.Figure("proxy start→hook end", "%s", ms(hookEnd.Sub(started)))
	t.Figure("hook end→app start", "%s", ms(appStarted.Sub(hookEnd)))
	return nil
}

// injectJob: the Job's pod succeeds; the app was born after the proxy was
// ready, and the proxy died after the app.
func injectJob(t *T) error {
	spec, err := injected(t, "inject/job.yaml", "inject-job", nil)
	if err != nil {
		return err
	}
	b, err := t.NewPod("inject-job", spec)
	if err != nil {
		return err
	}
	dir, err := graveyardOnHost(b, "podseq-graveyard")
	if err != nil {
		return fmt.Errorf("inject's output: %w", err)
	}
	_, _, err = runJob(t, b, dir)
	return err
}
