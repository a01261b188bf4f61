package main

import (
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// The native-sidecar manifests of manifests/inject: a proxy that is a native
// sidecar already, no podseq in them. inject gives the proxy a postStart
// hook on its readiness; the kubelet alone would start the app as soon as
// the proxy has started.

func init() {
	register(Scenario{
		Name: "inject-native-sidecar",
		Shows: "podseq inject on manifests/inject/native-sidecar.yaml (a Deployment whose proxy is a native sidecar, ready 3 s after it starts): " +
			"the proxy stays a native sidecar with podseq's postStart hook; the app's container starts only after the proxy is ready, not when it started",
		MinMinor: nativeSidecarsSince,
		Run:      func(t *T) error { return injectNativeSidecar(t, "native-sidecar.yaml", "inject-native-sidecar", false) },
	})
	register(Scenario{
		Name: "inject-native-job",
		Shows: "podseq inject on manifests/inject/native-sidecar-job.yaml (a Job whose proxy is a native sidecar): the app starts only after the proxy is ready, " +
			"and the pod Succeeds (the kubelet stops the native sidecar after the app)",
		MinMinor: nativeSidecarsSince,
		Run:      func(t *T) error { return injectNativeSidecar(t, "native-sidecar-job.yaml", "inject-native-job", true) },
	})
}

// injectNativeSidecar runs inject's output of manifests/inject/FILE and
// checks: proxy started < proxy ready <= its hook's end < the app's
// container start <= the app's command start; the app's container starts no
// sooner than the proxy's 3 s to readiness; a Job's pod Succeeds.
func injectNativeSidecar(t *T, file, name string, job bool) error {
	spec, err := injected(t, "inject/"+file, name, nil)
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
	if len(b.Spec.InitContainers) == 0 || proxy.RestartPolicy == nil || *proxy.RestartPolicy != corev1.ContainerRestartPolicyAlways {
		return fmt.Errorf("inject's output: the proxy is no longer a native sidecar: %+v", proxy)
	}
	if h := hookArgv(proxy); h == nil || (*h)[0] != "/podseq-bin/podseq" || (*h)[1] != "wait" {
		return fmt.Errorf("inject gave the proxy no podseq wait postStart hook: %+v", proxy.Lifecycle)
	}
	// The proxy's script: stamp the instant it turns ready (the file its
	// readinessProbe reads is written, then httpd serves it).
	script := proxy.Command[len(proxy.Command)-1]
	if !strings.Contains(script, "exec httpd") {
		return fmt.Errorf("the proxy's script has no exec httpd: %q", script)
	}
	proxy.Command[len(proxy.Command)-1] = strings.Replace(script, "exec httpd", Stamp("proxy.ready")+"; exec httpd", 1)
	if err := stampContainer(b, proxy); err != nil {
		return err
	}
	app, err := b.Container("app")
	if err != nil {
		return err
	}
	if len(app.Command) == 0 || app.Command[0] != "/podseq-bin/podseq" {
		return fmt.Errorf("inject did not make the app wait in its own start: command %q", app.Command)
	}
	if err := stampGatedApp(b, app); err != nil {
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
	at := map[string]time.Time{"app.started": appStarted}
	for _, e := range []string{"proxy.started", "proxy.ready", "proxy.hook.end", "app.container"} {
		if at[e], err = b.ReadStamp(e); err != nil {
			return err
		}
	}
	if rc := strings.Join(hookCodes(b, "proxy."), " "); rc != "0" {
		return fmt.Errorf("the proxy's podseq wait hook exited %q, want 0", rc)
	}
	order := []string{"proxy.started", "proxy.ready", "proxy.hook.end", "app.container", "app.started"}
	for i := 1; i < len(order); i++ {
		if at[order[i]].Before(at[order[i-1]]) {
			return fmt.Errorf("%s at %s, before %s at %s", order[i], at[order[i]].Format(time.StampMicro), order[i-1], at[order[i-1]].Format(time.StampMicro))
		}
	}
	if d := at["app.container"].Sub(at["proxy.started"]); d < 3*time.Second {
		return fmt.Errorf("the app's container started %s after the proxy started, before the proxy's 3 s to readiness", d)
	}
	if job {
		if err := jobSucceeded(t, b); err != nil {
			return err
		}
	}
	t.Figure("proxy start→ready", "%s", ms(at["proxy.ready"].Sub(at["proxy.started"])))
	t.Figure("proxy ready→hook end", "%s", ms(at["proxy.hook.end"].Sub(at["proxy.ready"])))
	t.Figure("hook end→app container start", "%s", ms(at["app.container"].Sub(at["proxy.hook.end"])))
	return nil
}
