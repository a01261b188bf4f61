package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// imageVolumeSince is the minor version from which kubelets mount image
// volumes by default: the ImageVolume feature gate is beta and on by
// default from v1.35 (containerd 2.1+ or CRI-O 1.31+ on the node).
const imageVolumeSince = 35

// imageVolumeFlags make inject deliver podseq as an image volume.
var imageVolumeFlags = []string{"--delivery", "image-volume"}

func init() {
	register(Scenario{
		Name: "inject-gate-image-volume",
		Shows: "inject-gate with --delivery image-volume: no install container; the podseq image (podseq:dev, imported, " +
			"pullPolicy IfNotPresent, no registry) is the podseq-bin volume; the hook and the app's wait run podseq from it",
		MinMinor: imageVolumeSince,
		Run: func(t *T) error {
			return injectImageVolume(t, "inject/deployment.yaml", "inject-gate-image-volume", nil, injectOrder)
		},
	})
	register(Scenario{
		Name:     "inject-native-image-volume",
		Shows:    "inject-native with --delivery image-volume: the native sidecar's hook runs podseq from the image volume",
		MinMinor: imageVolumeSince,
		Run: func(t *T) error {
			return injectImageVolume(t, "inject/deployment.yaml", "inject-native-image-volume", []string{"--mode", "native"}, injectOrder)
		},
	})
	register(Scenario{
		Name:     "inject-job-image-volume",
		Shows:    "inject-job with --delivery image-volume: podseq run from the image volume orders the Job's containers; the pod reaches Succeeded",
		MinMinor: imageVolumeSince,
		Run: func(t *T) error {
			return injectImageVolume(t, "inject/job.yaml", "inject-job-image-volume", nil, func(t *T, name string, flags []string) error {
				spec, err := injected(t, "inject/job.yaml", name, flags)
				if err != nil {
					return err
				}
				b, err := t.NewPod(name, spec)
				if err != nil {
					return err
				}
				dir, err := graveyardOnHost(b, "podseq-graveyard")
				if err != nil {
					return fmt.Errorf("inject's output: %w", err)
				}
				_, _, err = runJob(t, b, dir)
				return err
			})
		},
	})
	register(Scenario{
		Name: "image-volume-support",
		Shows: "a pod injected with --delivery image-volume on this kubelet and runtime: from v1.35 its app starts; " +
			"before, what the pod's status and the kubelet say (recorded for docs/delivery.md)",
		Run: func(t *T) error { return imageVolumeSupport(t, "image-volume-support") },
	})
	register(Scenario{
		Name: "image-volume-gate-on",
		Shows: "image-volume-support with the kubelet's ImageVolume feature gate turned on (the kubelet restarted with it, " +
			"then without): on v1.34 with containerd 1.6 what the runtime does with an image mount it does not know",
		Alone:    true,
		MinMinor: 31, // the gate exists from v1.31
		Run:      imageVolumeGateOn,
	})
	register(Scenario{
		Name: "delivery-compare",
		Shows: "pod creation → app start, for a sidecar ready at once (svc) and an app after it: a plain pod (no podseq), " +
			"podseq injected with init-container delivery, and with image-volume delivery (gate mode); images on the node; " +
			"medians over -runs rounds (at least 5), one pod at a time, and where the time goes",
		Bench: true,
		Timed: true,
		Run:   deliveryCompare,
	})
	register(Scenario{
		Name: "pleg-gate",
		Shows: "sidecar ready → app start for a native sidecar gated by a podseq hook (compare's native-hook), " +
			"on this kubelet and on the same release built with PLEGOnDemandRelist off (hack/e2e/kubelet-pleg-off.sh, " +
			"PODSEQ_E2E_KUBELET_PLEG_OFF), -runs rounds each, in one run",
		Bench:    true,
		Timed:    true,
		MinMinor: 36, // the gate exists from v1.36
		Run:      plegGate,
	})
}

// injectImageVolume checks that inject's output for manifests/rel with
// flags and --delivery image-volume has no install container and an image
// volume of the podseq image, then runs the scenario run on it.
func injectImageVolume(t *T, rel, name string, flags []string, run func(t *T, name string, flags []string) error) error {
	flags = append(slices.Clone(flags), imageVolumeFlags...)
	if err := run(t, name, flags); err != nil {
		return err
	}
	// What ran is what inject printed, kept in out/.
	out, err := os.ReadFile(filepath.Join(t.Node.Dir, "out", name+".injected.yaml"))
	if err != nil {
		return err
	}
	spec, _, err := podSpecIn(out, "")
	if err != nil || spec == nil {
		return fmt.Errorf("inject's output for %s: no pod spec (%v)", rel, err)
	}
	return checkImageVolume(spec)
}

// checkImageVolume: podseq comes from an image volume, read-only wherever
// it is mounted, and no container installs it.
func checkImageVolume(spec *corev1.PodSpec) error {
	for _, c := range spec.InitContainers {
		if c.Name == "podseq-install" {
			return errors.New("inject --delivery image-volume added the install container")
		}
	}
	var vol *corev1.Volume
	for i := range spec.Volumes {
		if spec.Volumes[i].Name == "podseq-bin" {
			vol = &spec.Volumes[i]
		}
	}
	if vol == nil || vol.Image == nil || vol.Image.PullPolicy != corev1.PullIfNotPresent {
		return fmt.Errorf("inject --delivery image-volume: want podseq-bin an image volume, IfNotPresent: %+v", vol)
	}
	for _, c := range append(slices.Clone(spec.InitContainers), spec.Containers...) {
		for _, m := range c.VolumeMounts {
			if m.Name == "podseq-bin" && !m.ReadOnly {
				return fmt.Errorf("container %s mounts podseq-bin writable", c.Name)
			}
		}
	}
	return nil
}

// imageVolumeSupport starts inject-gate's pod with image-volume delivery and
// reports what happens: on a kubelet from imageVolumeSince the app starts;
// on an older one (its ImageVolume gate off, as by default, and containerd
// 1.6) the app must not start, and the figures say what the pod's status
// and the kubelet's log say about the volume.
func imageVolumeSupport(t *T, name string) error {
	spec, err := injected(t, "inject/deployment.yaml", name, imageVolumeFlags)
	if err != nil {
		return err
	}
	b, err := t.NewPod(name, spec)
	if err != nil {
		return err
	}
	app, err := b.Container("app")
	if err != nil {
		return err
	}
	if err := b.WrapChild(app, Stamp("app.started")); err != nil {
		return err
	}
	begin := time.Now()
	if err := b.Start(); err != nil {
		return err
	}
	defer t.Stop(b)
	supported := t.Node.KubeletMinor >= imageVolumeSince
	limit := 60 * time.Second
	if !supported {
		limit = 30 * time.Second
	}
	started, err := t.WaitStamp(b, "app.started", limit)
	status := podDiag(t, b)
	if p, perr := t.Node.Pod(t.Ctx, b.Name); perr == nil && p != nil {
		status = fmt.Sprintf("phase %s; %s", p.Status.Phase, podConditions(p))
		for _, cs := range append(slices.Clone(p.Status.InitContainerStatuses), p.Status.ContainerStatuses...) {
			status += fmt.Sprintf("; %s: %s", cs.Name, describeState(cs.State))
		}
	}
	t.Figure("pod status", "%s", status)
	if log, lerr := t.Node.KubeletLog(); lerr == nil {
		// What the kubelet logged about the pod: its errors first, else
		// what it said of the podseq-bin volume.
		var said, errs []string
		for _, l := range strings.Split(log, "\n") {
			if !strings.Contains(l, name) {
				continue
			}
			if strings.HasPrefix(l, "E") {
				errs = append(errs, strings.TrimSpace(l))
			} else if strings.Contains(l, "podseq-bin") {
				said = append(said, strings.TrimSpace(l))
			}
		}
		said = append(errs, said...)
		if len(said) > 0 {
			t.Figure("kubelet says", "%s", said[0])
		} else {
			t.Figure("kubelet says", "nothing about the volume")
		}
	}
	if supported {
		if err != nil {
			return fmt.Errorf("%w; %s", err, status)
		}
		t.Figure("created→app start", "%s", ms(started.Sub(begin)))
		return nil
	}
	if err == nil {
		return fmt.Errorf("the app started on kubelet v1.%d, which should not mount image volumes: %s", t.Node.KubeletMinor, status)
	}
	return nil
}

// imageVolumeGateOn turns the kubelet's ImageVolume gate on (its
// configuration file, then a restart), runs imageVolumeSupport, and puts the
// configuration and the kubelet back.
func imageVolumeGateOn(t *T) error {
	cfg := t.Node.KubeletConfigFile()
	orig, err := os.ReadFile(cfg)
	if err != nil {
		return err
	}
	if strings.Contains(string(orig), "featureGates:") {
		return errors.New("the kubelet's configuration has featureGates already")
	}
	if err := os.WriteFile(cfg, append(slices.Clone(orig), "featureGates:\n  ImageVolume: true\n"...), 0o644); err != nil {
		return err
	}
	defer func() {
		if err := os.WriteFile(cfg, orig, 0o644); err != nil {
			t.Logf("restore the kubelet's configuration: %v", err)
			return
		}
		if err := t.Node.RestartKubelet(t.Ctx); err != nil {
			t.Logf("restart the kubelet without the gate: %v", err)
		}
	}()
	if err := t.Node.RestartKubelet(t.Ctx); err != nil {
		return fmt.Errorf("restart the kubelet with ImageVolume on: %w", err)
	}
	return imageVolumeSupport(t, "image-volume-gate-on")
}

// podConditions lists the pod's conditions that are not True, with their
// reasons and messages.
func podConditions(p *corev1.Pod) string {
	var cs []string
	for _, c := range p.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			cs = append(cs, strings.TrimSpace(fmt.Sprintf("%s=%s %s %s", c.Type, c.Status, c.Reason, c.Message)))
		}
	}
	if len(cs) == 0 {
		return "all conditions true"
	}
	return strings.Join(cs, ", ")
}

// describeState is a container state with its reason and message.
func describeState(s corev1.ContainerState) string {
	switch {
	case s.Waiting != nil:
		return strings.TrimSpace("waiting " + s.Waiting.Reason + " " + s.Waiting.Message)
	case s.Running != nil:
		return "running"
	case s.Terminated != nil:
		return strings.TrimSpace(fmt.Sprintf("terminated %d %s %s", s.Terminated.ExitCode, s.Terminated.Reason, s.Terminated.Message))
	}
	return "no state"
}

// deliveryPod is the pod of delivery-compare: a sidecar that is ready as
// soon as it listens (svc, -ready-after 0s) and an app after it.
const deliveryPod = `apiVersion: v1
kind: Pod
metadata:
  name: delivery
  annotations:
    after.podseq.dev/app: sidecar
spec:
  containers:
  - name: sidecar
    image: busybox:1.36
    command: [` + svcBin + `, -addr, "127.0.0.1:8080", -ready-after, 0s, -stamp, ` + outMount + `/sidecar.ready]
    readinessProbe:
      httpGet: {path: /ready, port: 8080}
      periodSeconds: 1
  - name: app
    image: busybox:1.36
    command: [` + shell + `, sh, -c, "trap 'exit 0' TERM; sleep 3600 & wait"]
`

// injectText runs bin/kubectl-podseq inject with flags on text and returns
// the pod spec of its output.
func injectText(t *T, text, name string, flags []string) (*corev1.PodSpec, error) {
	bin := filepath.Join(t.Repo, "bin", "kubectl-podseq")
	args := append([]string{"inject", "-f", "-"}, flags...)
	cmd := exec.CommandContext(t.Ctx, bin, args...)
	cmd.Stdin = strings.NewReader(text)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s %s: %v: %s", bin, strings.Join(args, " "), err, stderr.String())
	}
	if err := os.WriteFile(filepath.Join(t.Node.Dir, "out", name+".injected.yaml"), out.Bytes(), 0o644); err != nil {
		return nil, err
	}
	spec, _, err := podSpecIn(out.Bytes(), "")
	if err != nil || spec == nil {
		return nil, fmt.Errorf("inject's output: no pod spec (%v)", err)
	}
	return spec, nil
}

// A deliveryRow is one way to run deliveryPod.
type deliveryRow struct {
	name  string
	flags []string // inject's; nil: not injected
}

var deliveryRows = []deliveryRow{
	{name: "no podseq"},
	{name: "init-container", flags: []string{"--delivery", "init-container"}},
	{name: "image-volume", flags: imageVolumeFlags},
}

// deliveryTimes are one round's instants, from the pod's creation (the
// static pod's file written).
type deliveryTimes struct {
	install, installed, sidecar, ready, hookEnd, app time.Duration // 0: none
}

func deliveryCompare(t *T) error {
	runs := max(t.Runs, 5)
	got := map[string][]deliveryTimes{}
	var errs []error
	for round := 1; round <= runs && t.Ctx.Err() == nil; round++ {
		for i := range deliveryRows {
			r := deliveryRows[(i+round-1)%len(deliveryRows)]
			if slices.Equal(r.flags, imageVolumeFlags) && t.Node.KubeletMinor < imageVolumeSince {
				continue
			}
			time.Sleep(250 * time.Millisecond)
			d, err := deliveryOnce(t, r, round)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s round %d: %w", r.name, round, err))
				continue
			}
			got[r.name] = append(got[r.name], d)
		}
	}
	load, _ := os.ReadFile("/proc/loadavg")
	var tb strings.Builder
	fmt.Fprintf(&tb, "pod creation → app start (%d rounds, medians; load average at the end: %s)\n\n", runs, strings.Join(strings.Fields(string(load))[:min(3, len(strings.Fields(string(load))))], " "))
	fmt.Fprintf(&tb, "| delivery | runs | created→app start | added | created→install start | install run | install end→sidecar start | created→sidecar start | sidecar start→ready | ready→hook end | hook end→app start | all (ms) |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	var base time.Duration
	for _, r := range deliveryRows {
		ds := got[r.name]
		if len(ds) == 0 {
			what := "0"
			if slices.Equal(r.flags, imageVolumeFlags) && t.Node.KubeletMinor < imageVolumeSince {
				what = needs(imageVolumeSince)
			}
			fmt.Fprintf(&tb, "| %s | %s | - | - | - | - | - | - | - | - | - | - |\n", r.name, what)
			continue
		}
		pick := func(f func(deliveryTimes) time.Duration) string {
			var xs []time.Duration
			for _, d := range ds {
				if v := f(d); v != 0 {
					xs = append(xs, v)
				}
			}
			if len(xs) == 0 {
				return "-"
			}
			return ms(median(xs))
		}
		var apps []time.Duration
		var all []string
		for _, d := range ds {
			apps = append(apps, d.app)
			all = append(all, fmt.Sprint(d.app.Milliseconds()))
		}
		m := median(apps)
		added := "-"
		if r.flags == nil {
			base = m
		} else if base != 0 {
			added = fmt.Sprintf("%+d ms", (m - base).Milliseconds())
		}
		span := func(from, to func(deliveryTimes) time.Duration) func(deliveryTimes) time.Duration {
			return func(d deliveryTimes) time.Duration {
				if from(d) == 0 || to(d) == 0 {
					return 0
				}
				return to(d) - from(d)
			}
		}
		install := func(d deliveryTimes) time.Duration { return d.install }
		installed := func(d deliveryTimes) time.Duration { return d.installed }
		sidecar := func(d deliveryTimes) time.Duration { return d.sidecar }
		ready := func(d deliveryTimes) time.Duration { return d.ready }
		hookEnd := func(d deliveryTimes) time.Duration { return d.hookEnd }
		app := func(d deliveryTimes) time.Duration { return d.app }
		fmt.Fprintf(&tb, "| %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", r.name, len(ds), ms(m), added,
			pick(install), pick(span(install, installed)), pick(span(installed, sidecar)), pick(sidecar), pick(span(sidecar, ready)), pick(span(ready, hookEnd)), pick(span(hookEnd, app)), strings.Join(all, " "))
		t.Figure(r.name+" median", "%s", ms(m))
	}
	t.Table(tb.String())
	return errors.Join(errs...)
}

// deliveryOnce runs deliveryPod one way and returns its instants.
func deliveryOnce(t *T, r deliveryRow, round int) (deliveryTimes, error) {
	var d deliveryTimes
	name := fmt.Sprintf("delivery-%s-%d", strings.ReplaceAll(r.name, " ", "-"), round)
	var spec *corev1.PodSpec
	var err error
	if r.flags == nil {
		spec, _, err = podSpecIn([]byte(deliveryPod), "")
	} else {
		spec, err = injectText(t, deliveryPod, name, r.flags)
	}
	if err != nil {
		return d, err
	}
	b, err := t.NewPod(name, spec)
	if err != nil {
		return d, err
	}
	sidecar, err := b.Container("sidecar")
	if err != nil {
		return d, err
	}
	if err := b.WrapMain(sidecar, Stamp("sidecar.started")); err != nil {
		return d, err
	}
	app, err := b.Container("app")
	if err != nil {
		return d, err
	}
	if r.flags == nil {
		err = b.WrapMain(app, Stamp("app.started"))
	} else {
		if err := b.WrapPostStart(sidecar, "true", Stamp("hook.end")); err != nil {
			return d, err
		}
		err = b.WrapChild(app, Stamp("app.started"))
	}
	if err != nil {
		return d, err
	}
	if install, err := b.Container("podseq-install"); err == nil {
		// Stamped before and after podseq install, which runs as a child.
		argv, err := b.argv(install)
		if err != nil {
			return d, err
		}
		install.Command = append([]string{shell, "sh", "-c", Stamp("install.started") + `; "$@"; rc=$?; ` + Stamp("install.ended") + "; exit $rc", "sh"}, argv...)
		install.Args = nil
	}
	begin := time.Now()
	if err := b.Start(); err != nil {
		return d, err
	}
	defer t.Stop(b)
	appStarted, err := t.WaitStamp(b, "app.started", 60*time.Second)
	if err != nil {
		return d, fmt.Errorf("%w; %s", err, podDiag(t, b))
	}
	since := func(event string) time.Duration {
		at, err := b.ReadStamp(event)
		if err != nil {
			return 0
		}
		return at.Sub(begin)
	}
	d = deliveryTimes{install: since("install.started"), installed: since("install.ended"), sidecar: since("sidecar.started"), ready: since("sidecar.ready"),
		hookEnd: since("hook.end"), app: appStarted.Sub(begin)}
	t.Logf("%s round %d: created→app %s (install %s to %s, sidecar %s, ready %s, hook end %s)", r.name, round,
		ms(d.app), ms(d.install), ms(d.installed), ms(d.sidecar), ms(d.ready), ms(d.hookEnd))
	return d, nil
}

// plegOffEnv names the kubelet built with PLEGOnDemandRelist off.
const plegOffEnv = "PODSEQ_E2E_KUBELET_PLEG_OFF"

// plegGate measures compare's native-hook variant on the node's kubelet,
// then on the same release with PLEGOnDemandRelist off, then puts the
// node's kubelet back.
func plegGate(t *T) error {
	off := os.Getenv(plegOffEnv)
	if off == "" {
		return fmt.Errorf("%s is not set: build the kubelet with hack/e2e/kubelet-pleg-off.sh and set it to its path", plegOffEnv)
	}
	var v variant
	for _, cv := range compareVariants {
		if cv.name == "native-hook" {
			v = cv
		}
	}
	if v.name == "" {
		return errors.New("compare has no native-hook variant")
	}
	orig := t.Node.Kubelet
	defer func() {
		if t.Node.Kubelet != orig {
			t.Node.Kubelet = orig
			if err := t.Node.RestartKubelet(t.Ctx); err != nil {
				t.Logf("restart the node's kubelet: %v", err)
			}
		}
	}()
	runs := max(t.Runs, 5)
	var tb strings.Builder
	fmt.Fprintf(&tb, "native sidecar gated by a podseq hook: sidecar ready → app start (%d rounds each)\n\n", runs)
	fmt.Fprintf(&tb, "| kubelet | runs | ready→app start | ready→hook end | hook end→app start | all (ms) |\n|---|---|---|---|---|---|\n")
	var errs []error
	for ki, k := range []struct{ name, bin string }{{"PLEGOnDemandRelist on (default)", orig}, {"PLEGOnDemandRelist off", off}} {
		if t.Node.Kubelet != k.bin {
			t.Node.Kubelet = k.bin
			if err := t.Node.RestartKubelet(t.Ctx); err != nil {
				return fmt.Errorf("start the kubelet %s: %w", k.bin, err)
			}
		}
		var totals, hooks, after []time.Duration
		var all []string
		for round := 1; round <= runs && t.Ctx.Err() == nil; round++ {
			time.Sleep(250 * time.Millisecond)
			// Pods of their own names for each kubelet (compare-native-hook-101,
			// -201, ...): a pod of the same name and content from the round
			// before the restart, not yet gone, would be the restarted
			// kubelet's pod, and the new one never started (seen once).
			// The offset keeps readyAfter's schedule.
			total, hook, err := compareOnce(t, v, 100*(ki+1)+round)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s round %d: %w", k.name, round, err))
				continue
			}
			totals, hooks, after = append(totals, total), append(hooks, hook), append(after, total-hook)
			all = append(all, fmt.Sprint(total.Milliseconds()))
		}
		if len(totals) == 0 {
			fmt.Fprintf(&tb, "| %s | 0 | - | - | - | - |\n", k.name)
			continue
		}
		fmt.Fprintf(&tb, "| %s | %d | %s | %s | %s | %s |\n", k.name, len(totals), ms(median(totals)), ms(median(hooks)), ms(median(after)), strings.Join(all, " "))
		t.Figure(k.name+": hook end→app start", "%s", ms(median(after)))
	}
	t.Table(tb.String())
	return errors.Join(errs...)
}
