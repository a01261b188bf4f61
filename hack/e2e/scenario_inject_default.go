package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// What podseq inject writes by default for an app whose command is not in
// its manifest (docs/gate.md): the proxy becomes a native sidecar held by a
// startupProbe that execs podseq wait, no postStart hook; the kubelet runs
// the probe again after a restart, which it never does for a hook.

func init() {
	register(Scenario{
		Name: "inject-default-no-command",
		Shows: "podseq inject, no flags, on manifests/inject/deployment.yaml with the app's command dropped (the app is appImage: ENTRYPOINT and CMD only): " +
			"the proxy becomes a native sidecar whose startupProbe execs podseq wait, with no postStart hook; the app starts after the proxy is ready",
		MinMinor: nativeSidecarsSince,
		Run:      injectDefaultNoCommand,
	})
}

// injectDefaultNoCommand checks: proxy started < proxy ready <= app started,
// the app no sooner than the proxy's 2 s to readiness, the probe's exec run
// and nothing of podseq in the app.
func injectDefaultNoCommand(t *T) error {
	const name = "inject-default-no-command"
	rel := "inject/deployment.yaml"
	text, err := os.ReadFile(filepath.Join(t.Repo, "manifests", rel))
	if err != nil {
		return err
	}
	in, err := dropAppCommand(string(text))
	if err != nil {
		return err
	}
	file := filepath.Join(t.Node.Dir, "out", name+".in.yaml")
	if err := os.WriteFile(file, []byte(in), 0o644); err != nil {
		return err
	}
	spec, err := injectedFile(t, file, rel+" without the app's command", name, nil)
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
	if len(b.Spec.InitContainers) < 2 || proxy.RestartPolicy == nil || *proxy.RestartPolicy != corev1.ContainerRestartPolicyAlways {
		return fmt.Errorf("inject's output: the proxy is not a native sidecar: %+v", proxy)
	}
	p := proxy.StartupProbe
	if p == nil || p.Exec == nil || len(p.Exec.Command) < 2 || p.Exec.Command[0] != "/podseq-bin/podseq" || p.Exec.Command[1] != "wait" {
		return fmt.Errorf("inject gave the proxy no podseq wait startupProbe: %+v", p)
	}
	if p.PeriodSeconds != 1 || p.FailureThreshold != 1 || p.TimeoutSeconds != 130 {
		return fmt.Errorf("the startupProbe: period %d, failureThreshold %d, timeout %d; want 1, 1, 130", p.PeriodSeconds, p.FailureThreshold, p.TimeoutSeconds)
	}
	if proxy.Lifecycle != nil && proxy.Lifecycle.PostStart != nil {
		return fmt.Errorf("inject gave the proxy a postStart hook as well: %+v", proxy.Lifecycle.PostStart)
	}
	script := proxy.Command[len(proxy.Command)-1]
	if !strings.Contains(script, "exec httpd") {
		return fmt.Errorf("the proxy's script has no exec httpd: %q", script)
	}
	proxy.Command[len(proxy.Command)-1] = strings.Replace(script, "exec httpd", Stamp("proxy.ready")+"; exec httpd", 1)
	if err := stampContainer(b, proxy); err != nil {
		return err
	}
	if err := stampProbe(b, proxy); err != nil {
		return err
	}
	app, err := b.Container("app")
	if err != nil {
		return err
	}
	if len(app.Command) != 0 || len(app.Args) != 0 {
		return fmt.Errorf("inject wrote the app a command: %q %q", app.Command, app.Args)
	}
	app.Image = t.AppImage // its script stamps app.started
	if err := b.Start(); err != nil {
		return err
	}
	defer t.Stop(b)
	appStarted, err := t.WaitStamp(b, "app.started", 60*time.Second)
	if err != nil {
		return fmt.Errorf("%w; %s", err, podDiag(t, b))
	}
	at := map[string]time.Time{"app.started": appStarted}
	for _, e := range []string{"proxy.started", "proxy.probe.begin", "proxy.ready"} {
		if at[e], err = b.ReadStamp(e); err != nil {
			return err
		}
	}
	for _, pair := range [][2]string{{"proxy.started", "proxy.probe.begin"}, {"proxy.started", "proxy.ready"}, {"proxy.ready", "app.started"}} {
		if at[pair[1]].Before(at[pair[0]]) {
			return fmt.Errorf("%s at %s, before %s at %s", pair[1], at[pair[1]].Format(time.StampMicro), pair[0], at[pair[0]].Format(time.StampMicro))
		}
	}
	if d := appStarted.Sub(at["proxy.started"]); d < 2*time.Second {
		return fmt.Errorf("the app started %s after the proxy started, before the proxy's 2 s to readiness", d)
	}
	t.Figure("proxy start→ready", "%s", ms(at["proxy.ready"].Sub(at["proxy.started"])))
	t.Figure("proxy start→first probe exec", "%s", ms(at["proxy.probe.begin"].Sub(at["proxy.started"])))
	t.Figure("proxy ready→app started", "%s", ms(appStarted.Sub(at["proxy.ready"])))
	return nil
}

// dropAppCommand removes the app's command block from the text of
// manifests/inject/deployment.yaml.
func dropAppCommand(text string) (string, error) {
	i := strings.Index(text, "      - name: app\n")
	if i < 0 {
		return "", fmt.Errorf("manifests/inject/deployment.yaml: no app container")
	}
	j := strings.Index(text[i:], "        command:\n")
	k := strings.Index(text[i:], "        resources:\n")
	if j < 0 || k < j {
		return "", fmt.Errorf("manifests/inject/deployment.yaml: the app has no command before its resources")
	}
	return text[:i+j] + text[i+k:], nil
}
