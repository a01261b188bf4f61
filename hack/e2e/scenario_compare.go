package main

import (
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/podseq/podseq/hack/internal/loopback"
)

func init() {
	register(Scenario{
		Name: "compare",
		Shows: "sidecar ready → app started, one stand-in sidecar (svc: ready 1s to 1.8s after it starts, stamping the instant) " +
			"gated three ways: push (manifests/demo-push: podseq run --ready supervises svc, podseq wait long-polls it), " +
			"polling (manifests/demo with svc in place of podseq run: podseq wait polls svc), native " +
			"(manifests/native-sidecar: restartable init container, httpGet startupProbe periodSeconds: 1, hostNetwork); " +
			"medians over -runs rounds, one pod at a time",
		Bench: true,
		Timed: true,
		Run:   compareScenario,
	})
}

// readyAfter is when svc turns ready after it starts, in a round: 1s, 1.2s,
// ... 1.8s, then again. Where readiness falls between two ticks of the native
// sidecar's 1s startupProbe decides most of its delay, so the rounds spread it
// over the whole period rather than measure one phase 5 times.
func readyAfter(round int) time.Duration {
	return time.Second + time.Duration((round-1)%5)*200*time.Millisecond
}

// svcCommand runs the stand-in sidecar on addr, ready after ready.
func svcCommand(addr string, ready time.Duration) []string {
	return []string{svcBin, "-addr", addr, "-ready-after", ready.String(), "-stamp", outMount + "/sidecar.ready"}
}

// A variant turns a manifest into its pod: adapt gets the builder with the
// manifest loaded and puts svc in the sidecar's place; gated variants stamp
// app.started themselves, where podseq lets the app's command start.
type variant struct {
	name     string
	manifest string
	adapt    func(b *PodBuilder, ready time.Duration) error
	gated    bool
	minMinor int // as Scenario.MinMinor: on older kubelets the variant is n/a
}

// appliesTo reports whether v can run on a kubelet of the given minor version.
func (v variant) appliesTo(minor int) bool { return v.minMinor <= minor }

// podseqSupervisesSvc makes the sidecar's podseq run (the image's entrypoint)
// supervise svc and probe it, with extra flags before --ready.
func podseqSupervisesSvc(b *PodBuilder, ready time.Duration, extra ...string) (*corev1.Container, error) {
	sidecar, err := b.Container("sidecar")
	if err != nil {
		return nil, err
	}
	if len(sidecar.Command) != 0 {
		return nil, fmt.Errorf("sidecar: want podseq run as the image's entrypoint, got command %q", sidecar.Command)
	}
	args := append(append([]string{"run"}, extra...), "--ready=http://127.0.0.1:8080/ready", "--")
	sidecar.Args = append(args, svcCommand("127.0.0.1:8080", ready)...)
	return sidecar, nil
}

var compareVariants = []variant{
	{name: "push", manifest: "demo-push", adapt: func(b *PodBuilder, ready time.Duration) error {
		// podseq run supervises svc and probes it; the hook, as in the manifest
		// (--period=2s), long-polls podseq run and is released at once.
		sidecar, err := podseqSupervisesSvc(b, ready)
		if err != nil {
			return err
		}
		return b.WrapPostStart(sidecar, "true", Stamp("hook.end"))
	}},
	{name: "polling", manifest: "demo", adapt: func(b *PodBuilder, ready time.Duration) error {
		// svc serves on podseq run's port in its place: the manifest's hook is
		// unchanged, and polls (svc sends no Podseq-Hold header).
		sidecar, err := b.Container("sidecar")
		if err != nil {
			return err
		}
		sidecar.Command, sidecar.Args = svcCommand(":15780", ready), nil
		return b.WrapPostStart(sidecar, "true", Stamp("hook.end"))
	}},
	{name: "native-hook", minMinor: nativeSidecarsSince, manifest: "native-sidecar/deployment.yaml", adapt: func(b *PodBuilder, ready time.Duration) error {
		// A restartable init container gated by its podseq postStart hook, no
		// startupProbe: podseq run supervises svc, the hook long-polls it.
		sidecar, err := podseqSupervisesSvc(b, ready)
		if err != nil {
			return err
		}
		if sidecar.RestartPolicy == nil || sidecar.StartupProbe != nil {
			return fmt.Errorf("sidecar: want a restartable init container without a startupProbe")
		}
		return b.WrapPostStart(sidecar, "true", Stamp("hook.end"))
	}},
	{name: "native-gated", minMinor: nativeSidecarsSince, manifest: "native-sidecar/gated.yaml", gated: true, adapt: func(b *PodBuilder, ready time.Duration) error {
		// No hook, no startupProbe: kubelet starts the app's container soon
		// after the sidecar's, and the app's own podseq run --birth-deps
		// sidecar starts the app's command once the sidecar's tombstone says
		// ready.
		if _, err := podseqSupervisesSvc(b, ready, "--name=sidecar", "--graveyard=/graveyard"); err != nil {
			return err
		}
		app, err := b.Container("app")
		if err != nil {
			return err
		}
		return b.WrapChild(app, Stamp("app.started"))
	}},
	{name: "native-probe", minMinor: nativeSidecarsSince, manifest: "native-sidecar/startup-probe.yaml", adapt: func(b *PodBuilder, ready time.Duration) error {
		// kubelet's httpGet probes need the pod on the host's network: svc on a
		// free loopback port, probed at 127.0.0.1.
		port, err := loopback.FreePort()
		if err != nil {
			return err
		}
		b.Spec.HostNetwork = true
		sidecar, err := b.Container("sidecar")
		if err != nil {
			return err
		}
		if sidecar.RestartPolicy == nil || sidecar.StartupProbe == nil || sidecar.StartupProbe.HTTPGet == nil {
			return fmt.Errorf("sidecar: want a restartable init container with an httpGet startupProbe")
		}
		sidecar.Command, sidecar.Args = svcCommand(fmt.Sprintf("127.0.0.1:%d", port), ready), nil
		for i := range sidecar.Ports {
			sidecar.Ports[i].ContainerPort, sidecar.Ports[i].HostPort = int32(port), 0
		}
		for _, p := range []*corev1.Probe{sidecar.StartupProbe, sidecar.ReadinessProbe, sidecar.LivenessProbe} {
			if p != nil && p.HTTPGet != nil {
				p.HTTPGet.Host, p.HTTPGet.Port = "127.0.0.1", intstr.FromInt(port)
			}
		}
		return nil
	}},
}

func compareScenario(t *T) error {
	got := map[string][]time.Duration{}
	hooks := map[string][]time.Duration{}
	var errs []error
	// One pod at a time, each started after the one before is gone (pods
	// starting or stopping beside the one measured would compete for the 2
	// cores in exactly the window measured), with a short pause for the
	// kubelet's last cleanup, and in an order rotated every round, so no
	// variant always follows the same one.
	for round := 1; round <= t.Runs && t.Ctx.Err() == nil; round++ {
		for i := range compareVariants {
			v := compareVariants[(i+round-1)%len(compareVariants)]
			if !v.appliesTo(t.Node.KubeletMinor) {
				continue
			}
			time.Sleep(250 * time.Millisecond)
			d, h, err := compareOnce(t, v, round)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s round %d: %w", v.name, round, err))
				continue
			}
			got[v.name] = append(got[v.name], d)
			if h != 0 {
				hooks[v.name] = append(hooks[v.name], h)
			}
		}
	}
	var tb strings.Builder
	fmt.Fprintf(&tb, "sidecar ready → app started (%d rounds; svc turns ready %s to %s after it starts, 200 ms later each round)\n\n", t.Runs, readyAfter(1), readyAfter(min(t.Runs, 5)))
	fmt.Fprintf(&tb, "| variant | runs | median | min | max | ready→hook end (median) | all (ms) |\n|---|---|---|---|---|---|---|\n")
	for _, v := range compareVariants {
		ds := got[v.name]
		if !v.appliesTo(t.Node.KubeletMinor) {
			fmt.Fprintf(&tb, "| %s | %s | - | - | - | - | - |\n", v.name, needs(v.minMinor))
			t.Figure(v.name+" median", "%s", needs(v.minMinor))
			continue
		}
		if len(ds) == 0 {
			fmt.Fprintf(&tb, "| %s | 0 | - | - | - | - | - |\n", v.name)
			continue
		}
		lo, hi := ds[0], ds[0]
		var all []string
		for _, d := range ds {
			lo, hi = min(lo, d), max(hi, d)
			all = append(all, fmt.Sprint(d.Milliseconds()))
		}
		hook := "-"
		if len(hooks[v.name]) > 0 {
			hook = ms(median(hooks[v.name]))
		}
		fmt.Fprintf(&tb, "| %s | %d | %s | %s | %s | %s | %s |\n", v.name, len(ds), ms(median(ds)), ms(lo), ms(hi), hook, strings.Join(all, " "))
		t.Figure(v.name+" median", "%s", ms(median(ds)))
	}
	t.Table(tb.String())
	return errors.Join(errs...)
}

// compareOnce runs one pod of a variant and returns sidecar ready → app
// started (and records ready → hook end where there is a hook).
func compareOnce(t *T, v variant, round int) (total, toHookEnd time.Duration, err error) {
	spec, file, err := t.LoadPodSpec(v.manifest, "Deployment")
	if err != nil {
		return 0, 0, err
	}
	b, err := t.NewPod(fmt.Sprintf("compare-%s-%d", v.name, round), spec)
	if err != nil {
		return 0, 0, err
	}
	if err := v.adapt(b, readyAfter(round)); err != nil {
		return 0, 0, fmt.Errorf("%s: %w", file, err)
	}
	if !v.gated {
		app, err := b.Container("app")
		if err != nil {
			return 0, 0, err
		}
		if err := b.WrapMain(app, Stamp("app.started")); err != nil {
			return 0, 0, err
		}
	}
	if err := b.Start(); err != nil {
		return 0, 0, err
	}
	defer t.Stop(b)
	appStarted, err := t.WaitStamp(b, "app.started", 60*time.Second)
	if err != nil {
		return 0, 0, err
	}
	ready, err := b.ReadStamp("sidecar.ready")
	if err != nil {
		return 0, 0, err
	}
	d := appStarted.Sub(ready)
	if d < 0 {
		return 0, 0, fmt.Errorf("app started %s before the sidecar was ready", -d)
	}
	hook := ""
	if hookEnd, err := b.ReadStamp("hook.end"); err == nil {
		toHookEnd = hookEnd.Sub(ready)
		hook = fmt.Sprintf(" (ready→hook end %s, hook end→app %s)", ms(toHookEnd), ms(appStarted.Sub(hookEnd)))
	}
	t.Logf("%s round %d: %s%s", v.name, round, ms(d), hook)
	return d, toHookEnd, nil
}
