package main

import (
	"fmt"
	"strings"
	"time"
)

func init() {
	register(Scenario{
		Name:  "order",
		Shows: "podseq wait in the sidecar's postStart holds the app back until `podseq run --ready-after 3s` is ready; the app's first request to the sidecar succeeds",
		Run:   func(t *T) error { return orderScenario(t, "demo", "order") },
	})
	register(Scenario{
		Name:  "static-pod",
		Shows: "manifests/static-pod, the demo as a Pod for a kubelet's manifest directory: the same order",
		Run:   func(t *T) error { return orderScenario(t, "static-pod/pod.yaml", "static-pod") },
	})
}

// orderScenario runs the demo's pod from the manifest at rel, with the
// sidecar ready after 3s, and checks the order.
func orderScenario(t *T, rel, name string) error {
	b, _, app, err := demoPodFrom(t, rel, name, "3s", "")
	if err != nil {
		return err
	}
	// The app's first act: one request to the sidecar's ready endpoint.
	first := Stamp("app.started") + "; if " + shell + " wget -q -O /out/app.first http://localhost:15780/ready; then " +
		Stamp("app.first-ok") + "; else " + Stamp("app.first-failed") + "; fi"
	if err := b.WrapMain(app, first); err != nil {
		return err
	}
	if err := b.Start(); err != nil {
		return err
	}
	defer t.Stop(b)
	appStarted, err := t.WaitStamp(b, "app.started", 60*time.Second)
	if err != nil {
		return err
	}
	if _, err := t.WaitStamp(b, "app.first-ok", 10*time.Second); err != nil {
		if _, failed := b.ReadStamp("app.first-failed"); failed == nil {
			return fmt.Errorf("the app's first request to the sidecar failed")
		}
		return err
	}
	sidecarStarted, err := b.ReadStamp("sidecar.started")
	if err != nil {
		return err
	}
	hookEnd, err := b.ReadStamp("hook.end")
	if err != nil {
		return err
	}
	if rc := strings.Join(hookCodes(b, ""), " "); rc != "0" {
		return fmt.Errorf("podseq wait exited %q, want 0", rc)
	}
	if !appStarted.After(hookEnd) {
		return fmt.Errorf("app started %s before the hook returned", hookEnd.Sub(appStarted))
	}
	if d := hookEnd.Sub(sidecarStarted); d < 3*time.Second {
		return fmt.Errorf("hook returned %s after the sidecar started, before --ready-after 3s", d)
	}
	t.Figure("sidecar start→hook end", "%s", ms(hookEnd.Sub(sidecarStarted)))
	t.Figure("hook end→app start", "%s", ms(appStarted.Sub(hookEnd)))
	return nil
}
