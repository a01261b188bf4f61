package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/podseq/podseq/hack/e2e/internal/node"
	corev1 "k8s.io/api/core/v1"
)

func init() {
	register(Scenario{
		Name: "install",
		Shows: "an init container runs `podseq install /podseq-bin` into an emptyDir; a plain busybox sidecar " +
			"(httpd, serving 2s after it starts) uses /podseq-bin/podseq in its own postStart; the app starts after",
		Run: installScenario,
	})
}

func installScenario(t *T) error {
	spec, err := t.manifest("install")
	if err != nil {
		return err
	}
	b, err := t.NewPod("install", spec)
	if err != nil {
		return err
	}
	// Find the container whose postStart runs the installed binary, and the app after it.
	var user, app *corev1.Container
	for i := range b.Spec.Containers {
		c := &b.Spec.Containers[i]
		if h := hookArgv(c); h != nil && len(*h) > 0 && strings.HasSuffix((*h)[0], "/podseq") && (*h)[0] != podseqBin {
			user = c
			if i+1 < len(b.Spec.Containers) {
				app = &b.Spec.Containers[i+1]
			}
			break
		}
	}
	if user == nil || app == nil {
		return fmt.Errorf("no container with an installed podseq in its postStart followed by an app")
	}
	if err := stampHook(b, user); err != nil {
		return err
	}
	if err := b.WrapMain(app, Stamp("app.started")); err != nil {
		return err
	}
	if err := b.Start(); err != nil {
		return err
	}
	defer t.Stop(b)
	appStarted, err := t.WaitStamp(b, "app.started", 60*time.Second)
	if err != nil {
		for _, c := range b.Spec.InitContainers {
			if st, _ := t.Status(b, c.Name); st != nil {
				err = fmt.Errorf("%w; init container %s: %s", err, c.Name, node.StateString(st.State))
			}
		}
		return err
	}
	for _, c := range b.Spec.InitContainers {
		st, err := t.Status(b, c.Name)
		if err != nil || st == nil || st.State.Terminated == nil || st.State.Terminated.ExitCode != 0 {
			return fmt.Errorf("init container %s did not exit 0: %v %v", c.Name, st, err)
		}
	}
	hookEnd, err := b.ReadStamp("hook.end")
	if err != nil {
		return err
	}
	if rc := strings.Join(hookCodes(b, ""), " "); rc != "0" {
		return fmt.Errorf("the installed podseq wait exited %q, want 0", rc)
	}
	started, _ := b.ReadStamp("sidecar.started")
	if !appStarted.After(hookEnd) {
		return fmt.Errorf("app started before the hook returned")
	}
	t.Figure("sidecar start→hook end", "%s", ms(hookEnd.Sub(started)))
	t.Figure("hook end→app start", "%s", ms(appStarted.Sub(hookEnd)))
	return nil
}
