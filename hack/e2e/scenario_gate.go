package main

import (
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	ociregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	corev1 "k8s.io/api/core/v1"

	"github.com/podseq/podseq/imageconfig"
)

// The gates for a dependent whose manifest gives no command (docs/gate.md):
// the app is appImage, whose argv is only in the image (ENTRYPOINT /app.sh,
// CMD serve; the script stamps app.started), and each candidate holds it
// back until the sidecar is ready. gate-compare measures sidecar ready → app
// started; gate-kubelet-restart restarts the kubelet while every gate holds;
// gate-probe-delete and gate-probe-timeout show what the kubelet does with
// a startupProbe exec that blocks.

func init() {
	register(Scenario{
		Name: "gate-compare",
		Shows: "sidecar ready → app started for an app with no command in its manifest, one gate candidate per pod: " +
			"the postStart hook alone, the registry-resolved argv wrapped in podseq wait, a native sidecar with an httpGet startupProbe, " +
			"with a blocking exec startupProbe (podseq wait), with it and the hook, and a regular sidecar's exec startupProbe (which gates nothing)",
		Bench: true,
		Timed: true,
		Run:   gateCompare,
	})
	register(Scenario{
		Name: "gate-kubelet-restart",
		Shows: "the kubelet restarts while every gate candidate holds an app with no command (sidecars ready 30 s after they start): " +
			"the candidates claimed restart-safe must start their app only after the sidecar is ready; the others are recorded",
		Alone: true,
		Run:   gateKubeletRestart,
	})
	register(Scenario{
		Name: "gate-probe-delete",
		Shows: "a native sidecar held by a blocking exec startupProbe (podseq wait --timeout=60s) that is never ready: " +
			"the pod is removed while the probe's exec runs; it is gone without waiting for the exec (a postStart hook is waited for)",
		MinMinor: nativeSidecarsSince,
		Run:      gateProbeDelete,
	})
	register(Scenario{
		Name: "gate-probe-timeout",
		Shows: "the same never-ready sidecar with podseq wait --timeout=5s in the probe (timeoutSeconds 15, failureThreshold 1): " +
			"the exec exits 1 with podseq's line, the kubelet kills and restarts the sidecar, and the app never starts",
		MinMinor: nativeSidecarsSince,
		Run:      gateProbeTimeout,
	})
}

// gateVariant is one candidate: build turns a fresh pod named name into it,
// with a sidecar ready after ready.
type gateVariant struct {
	name string
	// minMinor as Scenario.MinMinor.
	minMinor int
	// safe candidates claim the order holds across a kubelet restart:
	// gate-kubelet-restart fails if their app starts before the sidecar is
	// ready. The others are measured, not asserted.
	safe bool
	// waiting is the stamp that says the gate holds (the kubelet restart
	// comes after it).
	waiting string
	build   func(t *T, name string, ready time.Duration, appArgv []string) (*PodBuilder, error)
}

var gateVariants = []gateVariant{
	{name: "hook", waiting: "sidecar.hook.begin", build: func(t *T, name string, ready time.Duration, _ []string) (*PodBuilder, error) {
		// Today's gate for an app without command: the sidecar's hook alone.
		b, _, err := gateRegular(t, name, ready, true)
		return b, err
	}},
	{name: "wrapped", safe: true, waiting: "sidecar.hook.begin", build: func(t *T, name string, ready time.Duration, appArgv []string) (*PodBuilder, error) {
		// The hook, and the app's own start waits too: its argv, read from
		// the registry, wrapped in podseq wait (inject's gate for an app whose
		// command is in the manifest).
		b, app, err := gateRegular(t, name, ready, true)
		if err != nil {
			return nil, err
		}
		installPodseq(b, app)
		app.Command = append([]string{"/podseq-bin/podseq", "wait", "--timeout=2m", "http://localhost:15780/ready", "--"}, appArgv...)
		return b, nil
	}},
	{name: "native-httpget", minMinor: nativeSidecarsSince, safe: true, waiting: "sidecar.started", build: func(t *T, name string, ready time.Duration, _ []string) (*PodBuilder, error) {
		// Kubernetes' own: an httpGet startupProbe, periodSeconds 1 (the
		// kubelet probes from the host: hostNetwork, a loopback port).
		b, err := gatePod(t, "native-sidecar/startup-probe.yaml", name)
		if err != nil {
			return nil, err
		}
		v, err := compareVariant("native-probe")
		if err != nil {
			return nil, err
		}
		if err := v.adapt(b, ready); err != nil {
			return nil, err
		}
		return b, gateStamp(b)
	}},
	{name: "native-exec", minMinor: nativeSidecarsSince, safe: true, waiting: "sidecar.probe.begin", build: func(t *T, name string, ready time.Duration, _ []string) (*PodBuilder, error) {
		return gateNativeExec(t, name, ready, false, "2m")
	}},
	// The probe's first exec waits for the hook: the prober needs the
	// container's ID in the pod's status, which the pod worker, busy running
	// the hook, publishes only after it.
	{name: "native-exec-hook", minMinor: nativeSidecarsSince, safe: true, waiting: "sidecar.hook.begin", build: func(t *T, name string, ready time.Duration, _ []string) (*PodBuilder, error) {
		return gateNativeExec(t, name, ready, true, "2m")
	}},
	{name: "regular-exec", waiting: "sidecar.probe.begin", build: func(t *T, name string, ready time.Duration, _ []string) (*PodBuilder, error) {
		// A regular sidecar's startupProbe holds nothing: the kubelet starts
		// every regular container in one sync, held only by postStart hooks.
		b, _, err := gateRegular(t, name, ready, false)
		if err != nil {
			return nil, err
		}
		sidecar, err := b.Container("sidecar")
		if err != nil {
			return nil, err
		}
		sidecar.StartupProbe = execWaitProbe("2m")
		return b, stampProbe(b, sidecar)
	}},
}

// gatePod loads manifests/rel as the pod name with the app made appImage,
// its manifest's command and args dropped.
func gatePod(t *T, rel, name string) (*PodBuilder, error) {
	spec, err := t.manifest(rel)
	if err != nil {
		return nil, err
	}
	b, err := t.NewPod(name, spec)
	if err != nil {
		return nil, err
	}
	app, err := b.Container("app")
	if err != nil {
		return nil, err
	}
	app.Image, app.Command, app.Args = t.AppImage, nil, nil
	return b, nil
}

// gateStamp stamps the sidecar's starts, hook and startupProbe exec.
func gateStamp(b *PodBuilder) error {
	sidecar, err := b.Container("sidecar")
	if err != nil {
		return err
	}
	if err := stampContainer(b, sidecar); err != nil {
		return err
	}
	if sidecar.StartupProbe != nil && sidecar.StartupProbe.Exec != nil {
		return stampProbe(b, sidecar)
	}
	return nil
}

// gateRegular is manifests/demo (a regular sidecar, podseq run supervising
// svc) with or without its podseq postStart hook.
func gateRegular(t *T, name string, ready time.Duration, hook bool) (*PodBuilder, *corev1.Container, error) {
	b, err := gatePod(t, "demo", name)
	if err != nil {
		return nil, nil, err
	}
	sidecar, err := podseqSupervisesSvc(b, ready)
	if err != nil {
		return nil, nil, err
	}
	if !hook {
		sidecar.Lifecycle = nil
	}
	if err := stampContainer(b, sidecar); err != nil {
		return nil, nil, err
	}
	app, err := b.Container("app")
	return b, app, err
}

// gateNativeExec is manifests/native-sidecar/deployment.yaml whose sidecar
// gets a startupProbe that execs podseq wait --timeout=timeout (blocking
// until ready), with or without the manifest's postStart hook.
func gateNativeExec(t *T, name string, ready time.Duration, hook bool, timeout string) (*PodBuilder, error) {
	b, err := gatePod(t, "native-sidecar/deployment.yaml", name)
	if err != nil {
		return nil, err
	}
	sidecar, err := podseqSupervisesSvc(b, ready)
	if err != nil {
		return nil, err
	}
	if !hook {
		sidecar.Lifecycle = nil
	}
	sidecar.StartupProbe = execWaitProbe(timeout)
	return b, gateStamp(b)
}

// execWaitProbe is the blocking exec startupProbe: podseq wait answers the
// instant the sidecar is ready, or exits 1 after timeout; timeoutSeconds is
// above it so that podseq's own line, not the kubelet's "timed out", is the
// failure; one failure restarts the sidecar (the wait already retried).
func execWaitProbe(timeout string) *corev1.Probe {
	d, err := time.ParseDuration(timeout)
	if err != nil {
		panic(err)
	}
	return &corev1.Probe{
		ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{
			Command: []string{podseqBin, "wait", "--timeout=" + timeout, "http://localhost:15780/ready"}}},
		PeriodSeconds:    1,
		TimeoutSeconds:   int32(d/time.Second) + 10,
		FailureThreshold: 1,
		SuccessThreshold: 1,
	}
}

// stampProbe stamps NAME.probe.begin at each run of c's exec startupProbe,
// then execs the probe's command (so that a kill of the exec kills podseq).
func stampProbe(b *PodBuilder, c *corev1.Container) error {
	p := c.StartupProbe
	if p == nil || p.Exec == nil {
		return fmt.Errorf("pod %s: container %s has no exec startupProbe", b.Name, c.Name)
	}
	p.Exec.Command = append([]string{shell, "sh", "-c", Stamp(c.Name+".probe.begin") + `; exec "$@"`, "sh"}, p.Exec.Command...)
	return nil
}

// installPodseq adds the podseq-install init container and its emptyDir,
// mounted in c at /podseq-bin, as inject does.
func installPodseq(b *PodBuilder, c *corev1.Container) {
	b.Spec.Volumes = append(b.Spec.Volumes, corev1.Volume{Name: "podseq-bin", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
	mount := corev1.VolumeMount{Name: "podseq-bin", MountPath: "/podseq-bin"}
	install := corev1.Container{Name: "podseq-install", Image: b.env.PodseqImage, ImagePullPolicy: corev1.PullNever,
		Args: []string{"install", "/podseq-bin"}, VolumeMounts: []corev1.VolumeMount{mount}}
	b.Spec.InitContainers = append([]corev1.Container{install}, b.Spec.InitContainers...)
	mount.ReadOnly = true
	c.VolumeMounts = append(c.VolumeMounts, mount)
}

// appArgvFromRegistry pushes appImage to a registry on loopback and reads
// its argv back with imageconfig, as inject would with a registry lookup.
func appArgvFromRegistry(t *T) ([]string, error) {
	srv := httptest.NewServer(ociregistry.New(ociregistry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	img, err := tarball.ImageFromPath(t.AppImageTar, nil)
	if err != nil {
		return nil, err
	}
	ref := strings.TrimPrefix(srv.URL, "http://") + "/podseq-e2e/app:1"
	parsed, err := name.ParseReference(ref)
	if err != nil {
		return nil, err
	}
	if err := remote.Write(parsed, img, remote.WithContext(t.Ctx)); err != nil {
		return nil, fmt.Errorf("push %s: %w", ref, err)
	}
	argv, c, err := (&imageconfig.Resolver{Cache: &imageconfig.MemoryCache{}}).Argv(t.Ctx, ref, nil, nil)
	if err != nil {
		return nil, err
	}
	t.Logf("%s: argv %q from %s", ref, argv, c.Digest)
	return argv, nil
}

// gateOutcome is one pod's sidecar ready → app started (negative: the app
// started first).
func gateOutcome(t *T, b *PodBuilder, limit time.Duration) (time.Duration, error) {
	started, err := t.WaitStamp(b, "app.started", limit)
	if err != nil {
		return 0, err
	}
	ready, err := t.WaitStamp(b, "sidecar.ready", 30*time.Second)
	if err != nil {
		return 0, err
	}
	return started.Sub(ready), nil
}

// loadavg is the machine's 1-minute load average, for the figures.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Fields(string(b))[0]
}

// signedMS formats d in ms, "-1234 ms" when the app started first.
func signedMS(d time.Duration) string { return fmt.Sprintf("%d ms", d.Milliseconds()) }

func gateCompare(t *T) error {
	argv, err := appArgvFromRegistry(t)
	if err != nil {
		return fmt.Errorf("registry lookup: %w", err)
	}
	got := map[string][]time.Duration{}
	var errs []string
	loads := []string{loadavg()}
	for round := 1; round <= t.Runs && t.Ctx.Err() == nil; round++ {
		// 1.5 s to 2.3 s: a sidecar slower than the first probe period, as
		// mesh proxies are; the phase against the 1 s probe tick moves.
		ready := readyAfter(round) + 500*time.Millisecond
		for i := range gateVariants {
			v := gateVariants[(i+round-1)%len(gateVariants)]
			if v.minMinor > t.Node.KubeletMinor {
				continue
			}
			time.Sleep(250 * time.Millisecond)
			d, err := gateOnce(t, v, round, ready, argv)
			if err != nil {
				errs = append(errs, fmt.Sprintf("%s round %d: %v", v.name, round, err))
				continue
			}
			got[v.name] = append(got[v.name], d)
		}
		loads = append(loads, loadavg())
	}
	var tb strings.Builder
	fmt.Fprintf(&tb, "gate candidates, app with no command: sidecar ready → app started (%d rounds; sidecar ready %s to %s after it starts; load average %s)\n\n",
		t.Runs, readyAfter(1)+500*time.Millisecond, readyAfter(min(t.Runs, 5))+500*time.Millisecond, strings.Join(loads, " → "))
	fmt.Fprintf(&tb, "| candidate | runs | median | min | max | app before ready | all (ms) |\n|---|---|---|---|---|---|---|\n")
	for _, v := range gateVariants {
		if v.minMinor > t.Node.KubeletMinor {
			fmt.Fprintf(&tb, "| %s | %s | - | - | - | - | - |\n", v.name, needs(v.minMinor))
			t.Figure(v.name+" median", "%s", needs(v.minMinor))
			continue
		}
		ds := got[v.name]
		if len(ds) == 0 {
			fmt.Fprintf(&tb, "| %s | 0 | - | - | - | - | - |\n", v.name)
			continue
		}
		lo, hi, early := ds[0], ds[0], 0
		var all []string
		for _, d := range ds {
			lo, hi = min(lo, d), max(hi, d)
			all = append(all, fmt.Sprint(d.Milliseconds()))
			if d < 0 {
				early++
			}
		}
		fmt.Fprintf(&tb, "| %s | %d | %s | %s | %s | %d | %s |\n", v.name, len(ds), signedMS(median(ds)), signedMS(lo), signedMS(hi), early, strings.Join(all, " "))
		t.Figure(v.name+" median", "%s", signedMS(median(ds)))
		if v.safe && early > 0 {
			errs = append(errs, fmt.Sprintf("%s: the app started before the sidecar was ready in %d rounds", v.name, early))
		}
	}
	t.Table(tb.String())
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

// gateOnce runs one pod of a candidate and returns sidecar ready → app
// started.
func gateOnce(t *T, v gateVariant, round int, ready time.Duration, argv []string) (time.Duration, error) {
	b, err := v.build(t, fmt.Sprintf("gate-%s-%d", v.name, round), ready, argv)
	if err != nil {
		return 0, err
	}
	if err := b.Start(); err != nil {
		return 0, err
	}
	defer t.Stop(b)
	d, err := gateOutcome(t, b, 60*time.Second)
	if err != nil {
		return 0, err
	}
	extra := ""
	if end, err := b.ReadStamp("sidecar.hook.end"); err == nil {
		if ready, err := b.ReadStamp("sidecar.ready"); err == nil {
			extra = fmt.Sprintf(" (ready→hook end %s)", ms(end.Sub(ready)))
		}
	}
	if ts, err := b.ReadStamps("sidecar.probe.begin"); err == nil && len(ts) > 0 {
		if ready, err := b.ReadStamp("sidecar.ready"); err == nil {
			extra += fmt.Sprintf(" (first probe exec %s before ready, %d execs)", ms(ready.Sub(ts[0])), len(ts))
		}
	}
	t.Logf("%s round %d: ready→app %s%s", v.name, round, signedMS(d), extra)
	return d, nil
}

func gateKubeletRestart(t *T) error {
	// Six pods start one after the other on a loaded node: each gate must
	// still hold when the kubelet restarts.
	const readyIn = 30 * time.Second
	argv, err := appArgvFromRegistry(t)
	if err != nil {
		return fmt.Errorf("registry lookup: %w", err)
	}
	type pod struct {
		b *PodBuilder
		v gateVariant
	}
	var pods []pod
	defer func() {
		for _, p := range pods {
			t.Stop(p.b)
		}
	}()
	for _, v := range gateVariants {
		if v.minMinor > t.Node.KubeletMinor {
			t.Figure(v.name, "%s", needs(v.minMinor))
			continue
		}
		b, err := v.build(t, "gr-"+v.name, readyIn, argv)
		if err != nil {
			return err
		}
		if err := b.Start(); err != nil {
			return err
		}
		pods = append(pods, pod{b, v})
	}
	for _, p := range pods {
		if _, err := t.WaitStamp(p.b, p.v.waiting, 30*time.Second); err != nil {
			return fmt.Errorf("%s: the gate never held: %w", p.v.name, err)
		}
	}
	// Any app started before the restart is already out of order: the
	// regular sidecar's startupProbe holds nothing.
	before := map[string]bool{}
	for _, p := range pods {
		before[p.v.name] = p.b.StampCount("app.started") > 0
	}
	restart := time.Now()
	if err := t.Node.RestartKubelet(t.Ctx); err != nil {
		return fmt.Errorf("restarting the kubelet: %w", err)
	}
	t.Figure("kubelet restart", "%s (load %s)", ms(time.Since(restart)), loadavg())
	var errs []string
	for _, p := range pods {
		d, err := gateOutcome(t, p.b, 60*time.Second)
		if err != nil {
			return fmt.Errorf("%s: %w", p.v.name, err)
		}
		what := fmt.Sprintf("app started %s after the sidecar was ready", ms(d))
		if d < 0 {
			what = fmt.Sprintf("app started %s BEFORE the sidecar was ready", ms(-d))
			if before[p.v.name] {
				what += " (before the restart)"
			}
		}
		ready, _ := p.b.ReadStamp("sidecar.ready")
		if !ready.After(restart) {
			errs = append(errs, fmt.Sprintf("%s: the sidecar was ready %s before the kubelet restarted: not measured", p.v.name, ms(restart.Sub(ready))))
			continue
		}
		what += fmt.Sprintf(" (the restart %s before it was ready)", ms(ready.Sub(restart)))
		if n := p.b.StampCount("sidecar.hook.begin"); n > 0 {
			what += fmt.Sprintf("; hook ran %d times, exit codes %v", n, hookCodes(p.b, "sidecar."))
		}
		if ts, _ := p.b.ReadStamps("sidecar.probe.begin"); len(ts) > 0 {
			var rel []string
			for _, x := range ts {
				rel = append(rel, ms(x.Sub(restart)))
			}
			what += fmt.Sprintf("; probe exec started %d times, at %s from the restart", len(ts), strings.Join(rel, ", "))
		}
		t.Figure(p.v.name, "%s", what)
		if p.v.safe && d < 0 {
			errs = append(errs, p.v.name+": "+what)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

func gateProbeDelete(t *T) error {
	// The probe's wait is far longer than any teardown, so that a kubelet
	// that waited for the exec is told apart from a slow teardown on a
	// loaded node (seen: 47 s with 40 pods starting beside it).
	const wait = 10 * time.Minute
	b, err := gateNativeExec(t, "gate-probe-delete", time.Hour, false, wait.String())
	if err != nil {
		return err
	}
	if err := b.Start(); err != nil {
		return err
	}
	defer t.Stop(b)
	begin, err := t.WaitStamp(b, "sidecar.probe.begin", 60*time.Second)
	if err != nil {
		return err
	}
	time.Sleep(time.Second) // the exec is well under way
	removed := time.Now()
	if err := t.Node.RemovePod(b.Name); err != nil {
		return err
	}
	if err := t.Node.WaitPodGone(t.Ctx, b.Name, 3*time.Minute); err != nil {
		return err
	}
	gone := time.Since(removed)
	t.Figure("probe exec started→removed", "%s", ms(removed.Sub(begin)))
	t.Figure("removed→gone", "%s (the probe's wait had %s left; load %s)", ms(gone), ms(wait-time.Since(begin)+gone), loadavg())
	if b.StampCount("app.started") > 0 {
		return fmt.Errorf("the app started although the sidecar was never ready")
	}
	// Grace period 2 s; the kubelet's teardown takes seconds more on a busy
	// node. Waiting for the exec would take the rest of its 10 min.
	if gone > 2*time.Minute {
		return fmt.Errorf("the pod took %s to go: the kubelet waited for the probe's exec", gone)
	}
	return nil
}

func gateProbeTimeout(t *T) error {
	b, err := gateNativeExec(t, "gate-probe-timeout", time.Hour, false, "5s")
	if err != nil {
		return err
	}
	if err := b.Start(); err != nil {
		return err
	}
	defer t.Stop(b)
	starts, err := t.WaitStamps(b, "sidecar.started", 2, 90*time.Second)
	if err != nil {
		return fmt.Errorf("the sidecar was not restarted after the probe's wait timed out: %w", err)
	}
	probes, err := b.ReadStamps("sidecar.probe.begin")
	if err != nil {
		return err
	}
	t.Figure("sidecar start→probe exec", "%s", ms(probes[0].Sub(starts[0])))
	t.Figure("probe exec→sidecar restarted", "%s", ms(starts[1].Sub(probes[0])))
	const line = "podseq: not ready after 5s"
	if _, err := t.WaitKubeletLog(line, 10*time.Second); err != nil {
		return fmt.Errorf("podseq's line in the kubelet log: %w", err)
	}
	t.Figure("kubelet log", "%q", line+": …")
	time.Sleep(3 * time.Second)
	if b.StampCount("app.started") > 0 {
		return fmt.Errorf("the app started although the sidecar was never ready")
	}
	if d := starts[1].Sub(probes[0]); d < 5*time.Second {
		return fmt.Errorf("the sidecar restarted %s after the probe began, before podseq wait's 5 s", d)
	}
	return nil
}
