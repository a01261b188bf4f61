package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/podseq/podseq/hack/e2e/internal/proc"
	corev1 "k8s.io/api/core/v1"
)

// The manifests of manifests/native-sidecar: native sidecars (restartable
// init containers) held back by a podseq postStart hook or gating the app's
// own start, across crashes, container restarts and a kubelet restart.

func init() {
	register(Scenario{
		Name: "native-hook",
		Shows: "manifests/native-sidecar/deployment.yaml: a native sidecar with no startupProbe, held by its podseq postStart hook; " +
			"the app starts after the hook, and the hook's own line (podseq wait: ready after ...) is in the sidecar's container log",
		MinMinor: nativeSidecarsSince,
		Run:      nativeHook,
	})
	register(Scenario{
		Name:     "native-chain",
		Shows:    "manifests/native-sidecar/chain.yaml: native sidecars in order among themselves (proxy after creds is ready), then the app after the proxy is ready",
		MinMinor: nativeSidecarsSince,
		Run:      nativeChain,
	})
	register(Scenario{
		Name: "native-crash",
		Shows: "deployment.yaml with a sidecar whose command exits 3 before it is ready, once: the hook ends at once (not by its --timeout 30s), " +
			"exit 1, saying the sidecar died, in the kubelet log and in the sidecar's container log; the sidecar restarts and the app starts only after it is ready",
		MinMinor: nativeSidecarsSince,
		Run:      nativeCrash,
	})
	register(Scenario{
		Name: "native-restart",
		Shows: "manifests/native-sidecar/gated.yaml: the sidecar is SIGKILLed after the app started (the app runs on, the sidecar restarts), " +
			"then the sidecar and the app are SIGKILLed together, as a restart in place: the app's command starts again only after the new sidecar instance is ready, " +
			"never on the killed instance's stale ready tombstone",
		MinMinor: nativeSidecarsSince,
		Run:      nativeRestart,
	})
	register(Scenario{
		Name: "kubelet-restart",
		Shows: "the kubelet restarts while sidecars are not ready yet (kubernetes#122803): the app of gated.yaml starts only once its sidecar is ready; " +
			"what deployment.yaml (native sidecar, hook only), startup-probe.yaml and demo (regular containers, hook only) do then is recorded",
		Alone:    true,
		MinMinor: nativeSidecarsSince,
		Run:      kubeletRestart,
	})
}

// stampContainer stamps NAME.started at each start of container c and, if it
// has a postStart hook, NAME.hook.begin, NAME.hook.end and its exit codes in
// NAME.hook.rc.
func stampContainer(b *PodBuilder, c *corev1.Container) error {
	if err := b.WrapMain(c, Stamp(c.Name+".started")); err != nil {
		return err
	}
	if hookArgv(c) == nil {
		return nil
	}
	return stampPostStart(b, c, c.Name+".")
}

// startStamped stamps every container of cs (stampContainer) and starts the
// pod.
func startStamped(b *PodBuilder, cs ...*corev1.Container) error {
	for _, c := range cs {
		if err := stampContainer(b, c); err != nil {
			return err
		}
	}
	return b.Start()
}

// stampGatedApp stamps app.started where the app's podseq run starts its
// command, and app.container at each start of its container, before its
// podseq run waits.
func stampGatedApp(b *PodBuilder, app *corev1.Container) error {
	if err := b.WrapChild(app, Stamp("app.started")); err != nil {
		return err
	}
	return b.WrapMain(app, Stamp("app.container"))
}

// nativePod loads manifests/native-sidecar/FILE as the pod name, with its
// sidecar's podseq run supervising svc, ready after ready (stamping
// sidecar.ready at each start), and extra flags for podseq run.
func nativePod(t *T, file, name string, ready time.Duration, extra ...string) (*PodBuilder, *corev1.Container, *corev1.Container, error) {
	spec, err := t.manifest("native-sidecar/" + file)
	if err != nil {
		return nil, nil, nil, err
	}
	b, err := t.NewPod(name, spec)
	if err != nil {
		return nil, nil, nil, err
	}
	sidecar, err := podseqSupervisesSvc(b, ready, extra...)
	if err != nil {
		return nil, nil, nil, err
	}
	app, err := b.Container("app")
	if err != nil {
		return nil, nil, nil, err
	}
	return b, sidecar, app, nil
}

func nativeHook(t *T) error {
	b, sidecar, app, err := nativePod(t, "deployment.yaml", "native-hook", 3*time.Second)
	if err != nil {
		return err
	}
	if err := startStamped(b, sidecar, app); err != nil {
		return err
	}
	defer t.Stop(b)
	appStarted, err := t.WaitStamp(b, "app.started", 60*time.Second)
	if err != nil {
		return err
	}
	ready, err := b.ReadStamp("sidecar.ready")
	if err != nil {
		return err
	}
	hookEnd, err := b.ReadStamp("sidecar.hook.end")
	if err != nil {
		return err
	}
	if rc := hookCodes(b, "sidecar."); strings.Join(rc, " ") != "0" {
		return fmt.Errorf("the hook exited %v, want 0", rc)
	}
	if !appStarted.After(hookEnd) || hookEnd.Before(ready) {
		return fmt.Errorf("sidecar ready %s, hook end %s, app started %s: want them in that order", ready, hookEnd, appStarted)
	}
	t.Figure("ready→hook end", "%s", ms(hookEnd.Sub(ready)))
	t.Figure("hook end→app start", "%s", ms(appStarted.Sub(hookEnd)))
	// The hook's own line, in the sidecar's log (kubectl logs -c sidecar).
	var line string
	err = proc.Poll(t.Ctx, 10*time.Second, 100*time.Millisecond, func() error {
		log, err := t.Node.ContainerLog(b.Name, "sidecar")
		if err != nil {
			return err
		}
		for _, l := range strings.Split(log, "\n") {
			if i := strings.Index(l, "podseq wait: ready after "); i >= 0 {
				line = l[i:]
				return nil
			}
		}
		return fmt.Errorf("no \"podseq wait: ready after\" line in the sidecar's container log:\n%s", log)
	})
	if err != nil {
		return err
	}
	t.Figure("sidecar's container log", "%q", line)
	return nil
}

func nativeChain(t *T) error {
	spec, err := t.manifest("native-sidecar/chain.yaml")
	if err != nil {
		return err
	}
	b, err := t.NewPod("native-chain", spec)
	if err != nil {
		return err
	}
	var cs []*corev1.Container
	for _, n := range []string{"creds", "proxy", "app"} {
		c, err := b.Container(n)
		if err != nil {
			return err
		}
		cs = append(cs, c)
	}
	if err := startStamped(b, cs...); err != nil {
		return err
	}
	defer t.Stop(b)
	// Two hops, each ended by a hook and often a kubelet sync (10 s, and
	// more on a loaded node) before the next container: 25 s is usual.
	appStarted, err := t.WaitStamp(b, "app.started", 2*time.Minute)
	if err != nil {
		return err
	}
	at := map[string]time.Time{"app.started": appStarted}
	for _, e := range []string{"creds.started", "creds.hook.end", "proxy.started", "proxy.hook.end"} {
		if at[e], err = b.ReadStamp(e); err != nil {
			return err
		}
	}
	for _, c := range cs[:2] {
		if rc := hookCodes(b, c.Name+"."); strings.Join(rc, " ") != "0" {
			return fmt.Errorf("%s's hook exited %v, want 0", c.Name, rc)
		}
	}
	order := []string{"creds.started", "creds.hook.end", "proxy.started", "proxy.hook.end", "app.started"}
	for i := 1; i < len(order); i++ {
		if !at[order[i]].After(at[order[i-1]]) {
			return fmt.Errorf("%s at %s, not after %s at %s", order[i], at[order[i]], order[i-1], at[order[i-1]])
		}
	}
	// Each hook holds for its sidecar's --ready-after (creds 3s, proxy 2s).
	if d := at["creds.hook.end"].Sub(at["creds.started"]); d < 3*time.Second {
		return fmt.Errorf("creds' hook returned %s after creds started, before its --ready-after 3s", d)
	}
	if d := at["proxy.hook.end"].Sub(at["proxy.started"]); d < 2*time.Second {
		return fmt.Errorf("proxy's hook returned %s after proxy started, before its --ready-after 2s", d)
	}
	t.Figure("creds ready→proxy start", "%s", ms(at["proxy.started"].Sub(at["creds.hook.end"])))
	t.Figure("proxy ready→app start", "%s", ms(at["app.started"].Sub(at["proxy.hook.end"])))
	return nil
}

func nativeCrash(t *T) error {
	b, sidecar, app, err := nativePod(t, "deployment.yaml", "native-crash", time.Second)
	if err != nil {
		return err
	}
	// The first instance's command exits 3 before it is ready, once the
	// postStart hook holds a long poll on podseq run (its
	// podseq_ready_waiters gauge; at most 30 s): a command that died before
	// the hook asked would take the hook down with its container, and only
	// the next instance's hook would run whole. The next one runs svc.
	i := len(sidecar.Args) - len(svcCommand("", 0))
	svc := strings.Join(sidecar.Args[i:], " ")
	holds := shell + " wget -q -O- http://127.0.0.1:15780/metrics | " + shell + " grep -q '^podseq_ready_waiters [1-9]'"
	sidecar.Args = append(sidecar.Args[:i], shell, "sh", "-c",
		"if [ ! -e "+outMount+"/crashed ]; then touch "+outMount+"/crashed; n=0; until "+holds+
			" || [ $n -ge 300 ]; do n=$((n+1)); sleep 0.1; done; exit 3; fi; exec "+svc)
	hook := hookArgv(sidecar)
	if *hook, err = setFlag(*hook, "wait", "timeout", "30s"); err != nil {
		return err
	}
	if err := startStamped(b, sidecar, app); err != nil {
		return err
	}
	defer t.Stop(b)
	ends, err := t.WaitStamps(b, "sidecar.hook.end", 1, 60*time.Second)
	if err != nil {
		return err
	}
	begins, err := b.ReadStamps("sidecar.hook.begin")
	if err != nil {
		return err
	}
	ran := ends[0].Sub(begins[0])
	t.Figure("first hook ran", "%s", ms(ran))
	if rc := hookCodes(b, "sidecar."); len(rc) == 0 || rc[0] != "1" {
		return fmt.Errorf("the first hook exited %v, want 1 (the sidecar died)", rc)
	}
	if ran >= 20*time.Second {
		return fmt.Errorf("the first hook ran %s: it waited for its --timeout 30s instead of seeing the sidecar die", ran)
	}
	const died = "the sidecar died: command exited with code 3"
	if _, err := t.WaitKubeletLog(died, 10*time.Second); err != nil {
		return fmt.Errorf("the hook's line: %w", err)
	}
	// The runtime copies the container's output into its log file a moment
	// after the kubelet has logged the hook's failure.
	err = proc.Poll(t.Ctx, 10*time.Second, 100*time.Millisecond, func() error {
		clog, err := t.Node.ContainerLog(b.Name, "sidecar")
		if err == nil && (!strings.Contains(clog, "podseq wait: not ready after ") || !strings.Contains(clog, died)) {
			err = fmt.Errorf("the sidecar's container log lacks the hook's line:\n%s", clog)
		}
		return err
	})
	if err != nil {
		return err
	}
	t.Figure("kubelet log and container log", "%q", "podseq wait: not ready after …: "+died)
	appStarted, err := t.WaitStamp(b, "app.started", 60*time.Second)
	if err != nil {
		return fmt.Errorf("the app never started after the sidecar's restart: %w", err)
	}
	ready, err := b.ReadStamp("sidecar.ready")
	if err != nil {
		return err
	}
	if appStarted.Before(ready) {
		return fmt.Errorf("the app started %s before the restarted sidecar was ready", ms(ready.Sub(appStarted)))
	}
	st, err := t.Status(b, "sidecar")
	if err != nil || st == nil {
		return fmt.Errorf("sidecar status: %v", err)
	}
	t.Figure("sidecar", "%d restarts; app started %s after it was ready", st.RestartCount, ms(appStarted.Sub(ready)))
	return nil
}

func nativeRestart(t *T) error {
	b, _, app, err := nativePod(t, "gated.yaml", "native-restart", time.Second, "--name=sidecar", "--graveyard=/graveyard")
	if err != nil {
		return err
	}
	dir, err := graveyardOnHost(b, "graveyard")
	if err != nil {
		return err
	}
	if err := stampGatedApp(b, app); err != nil {
		return err
	}
	if err := b.Start(); err != nil {
		return err
	}
	defer t.Stop(b)
	if _, err := t.WaitStamps(b, "app.started", 1, 60*time.Second); err != nil {
		return err
	}
	// 1. The sidecar alone is killed after the app started: the app runs on,
	// the sidecar comes back.
	if err := t.Node.KillContainer(t.Ctx, b.Name, "sidecar"); err != nil {
		return err
	}
	readies, err := t.WaitStamps(b, "sidecar.ready", 2, 60*time.Second)
	if err != nil {
		return fmt.Errorf("the killed sidecar did not come back ready: %w", err)
	}
	if st, err := t.Status(b, "app"); err != nil || st == nil || st.RestartCount != 0 || b.StampCount("app.started") != 1 {
		return fmt.Errorf("the app after the sidecar's restart: %v %v, started %d times; want it running, unrestarted", err, st, b.StampCount("app.started"))
	}
	t.Figure("sidecar killed after the app started", "back ready %s later, app unrestarted", ms(readies[1].Sub(readies[0])))
	// 2. Both at once, as a restart in place (KEP-5532) or an OOM kill of
	// the pod's processes: the emptyDir stays, with the killed sidecar's
	// tombstone still saying ready.
	if err := waitTombstoneReady(t, dir); err != nil {
		return err
	}
	if err := t.Node.KillContainer(t.Ctx, b.Name, "sidecar"); err != nil {
		return err
	}
	if err := t.Node.KillContainer(t.Ctx, b.Name, "app"); err != nil {
		return err
	}
	if g, err := readGrave(dir, "sidecar"); err == nil {
		t.Figure("tombstone after the kill", "state %s (its writer gone)", g.state)
	}
	starts, err := t.WaitStamps(b, "app.started", 2, 90*time.Second)
	if err != nil {
		return fmt.Errorf("the app's command did not start again: %w", err)
	}
	if readies, err = t.WaitStamps(b, "sidecar.ready", 3, 30*time.Second); err != nil {
		return fmt.Errorf("the app started again (%s) but the sidecar was never ready again: %w", starts[1], err)
	}
	if starts[1].Before(readies[2]) {
		return fmt.Errorf("the restarted app started %s before the new sidecar instance was ready: a stale tombstone released it", ms(readies[2].Sub(starts[1])))
	}
	t.Figure("both killed", "the app's command started %s after the new sidecar instance was ready", ms(starts[1].Sub(readies[2])))
	if cs, err := b.ReadStamps("app.container"); err == nil && len(cs) >= 2 {
		if d := readies[2].Sub(cs[1]); d > 0 {
			t.Figure("stale tombstone", "the app's container was back %s before the new sidecar was ready, its podseq run held by the killed one's ready tombstone", ms(d))
		} else {
			t.Figure("stale tombstone", "the app's container came back %s after the new sidecar was ready", ms(-d))
		}
	}
	return nil
}

// waitTombstoneReady waits until the sidecar's tombstone says ready.
func waitTombstoneReady(t *T, dir string) error {
	_, err := waitGraves(t, dir, 30*time.Second, "sidecar ready", func(g map[string]*grave) bool {
		return g["sidecar"].state == "ready"
	}, "sidecar")
	return err
}

// compareVariant returns the compare scenario's variant called name.
func compareVariant(name string) (variant, error) {
	for _, v := range compareVariants {
		if v.name == name {
			return v, nil
		}
	}
	return variant{}, fmt.Errorf("no compare variant %q", name)
}

// kubeletRestart restarts the kubelet while four pods wait for sidecars
// that turn ready 12s after they start.
func kubeletRestart(t *T) error {
	const readyIn = 12 * time.Second
	type pod struct {
		b     *PodBuilder
		gated bool
	}
	var pods []pod
	defer func() {
		for _, p := range pods {
			t.Stop(p.b)
		}
	}()
	for _, p := range []struct{ rel, name string }{
		{"native-sidecar/gated.yaml", "kr-gated"},
		{"native-sidecar/deployment.yaml", "kr-native-hook"},
		{"native-sidecar/startup-probe.yaml", "kr-native-probe"},
		{"demo", "kr-demo-hook"},
	} {
		spec, err := t.manifest(p.rel)
		if err != nil {
			return err
		}
		b, err := t.NewPod(p.name, spec)
		if err != nil {
			return err
		}
		gated := p.name == "kr-gated"
		var sidecar *corev1.Container
		switch p.name {
		case "kr-native-probe":
			v, err := compareVariant("native-probe")
			if err != nil {
				return err
			}
			if err := v.adapt(b, readyIn); err != nil {
				return err
			}
			if sidecar, err = b.Container("sidecar"); err != nil {
				return err
			}
		case "kr-gated":
			sidecar, err = podseqSupervisesSvc(b, readyIn, "--name=sidecar", "--graveyard=/graveyard")
		default:
			sidecar, err = podseqSupervisesSvc(b, readyIn)
		}
		if err != nil {
			return err
		}
		app, err := b.Container("app")
		if err != nil {
			return err
		}
		if gated {
			if err := stampGatedApp(b, app); err != nil {
				return err
			}
		} else if err := stampContainer(b, app); err != nil {
			return err
		}
		if err := stampContainer(b, sidecar); err != nil {
			return err
		}
		if err := b.Start(); err != nil {
			return err
		}
		pods = append(pods, pod{b, gated})
	}
	// Restart once every pod waits: the hooks run, the gated app's podseq run
	// waits on the tombstone.
	for _, p := range pods {
		event := "sidecar.hook.begin"
		switch {
		case p.gated:
			event = "app.container"
		case p.b.Name == "kr-native-probe":
			event = "sidecar.started"
		}
		if _, err := t.WaitStamp(p.b, event, 30*time.Second); err != nil {
			return err
		}
	}
	restart := time.Now()
	if err := t.Node.RestartKubelet(t.Ctx); err != nil {
		return fmt.Errorf("restarting the kubelet: %w", err)
	}
	t.Figure("kubelet restart", "%s", ms(time.Since(restart)))
	var errs []string
	for _, p := range pods {
		started, err := t.WaitStamp(p.b, "app.started", 60*time.Second)
		if err != nil {
			return err
		}
		ready, err := t.WaitStamp(p.b, "sidecar.ready", 30*time.Second)
		if err != nil {
			return err
		}
		d := started.Sub(ready)
		what := fmt.Sprintf("app started %s after the sidecar was ready", ms(d))
		if d < 0 {
			what = fmt.Sprintf("app started %s BEFORE the sidecar was ready", ms(-d))
		}
		if p.b.StampCount("sidecar.hook.begin") > 0 {
			what += fmt.Sprintf("; hook ran %d times, exit codes %v", p.b.StampCount("sidecar.hook.begin"), hookCodes(p.b, "sidecar."))
		}
		t.Figure(p.b.Name, "%s", what)
		if p.gated && d < 0 {
			errs = append(errs, p.b.Name+": "+what)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}
