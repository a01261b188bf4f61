package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/podseq/podseq/hack/e2e/internal/node"
	"github.com/podseq/podseq/hack/e2e/internal/proc"
	corev1 "k8s.io/api/core/v1"
)

// The manifests of manifests/steps: containers that run one after another to
// completion (podseq run --after), with the failure cascade. The Job's pod
// runs as a static pod with restartPolicy Never; its phase is what the Job
// controller would judge.

func init() {
	register(Scenario{
		Name: "steps-order",
		Shows: "manifests/steps/job.yaml: fetch (after the proxy is ready), build and test run one after another; " +
			"the proxy stops after test; the pod Succeeded and each termination message says the step succeeded",
		Run: stepsOrder,
	})
	register(Scenario{
		Name: "steps-fail",
		Shows: "job.yaml with build exiting 3: test skips within a second (exit 125, tombstone skipped), the proxy " +
			"still stops, the pod Failed, and the termination messages name build and its exit code",
		Run: func(t *T) error { return stepsFailure(t, "steps-fail", failExit) },
	})
	register(Scenario{
		Name: "steps-sigkill",
		Shows: "job.yaml with build's container SIGKILLed from the host (its podseq run too, as the OOM killer " +
			"would): test sees the released flock and skips, no hang; the pod Failed",
		Run: func(t *T) error { return stepsFailure(t, "steps-sigkill", failKill) },
	})
	register(Scenario{
		Name:  "steps-timeout",
		Shows: "job.yaml with build sleeping past --step-timeout=1s: build is stopped and exits 124, test skips, the pod Failed",
		Run:   func(t *T) error { return stepsFailure(t, "steps-timeout", failTimeout) },
	})
	register(Scenario{
		Name: "steps-smoke-test",
		Shows: "manifests/steps/smoke-test.yaml: the one-shot smoke test runs once the app is ready and stays " +
			"terminated while the app serves on (pod restartPolicy OnFailure in place of the container's Never: see stepsSmokeTest)",
		Run: stepsSmokeTest,
	})
}

// stepNames are the Job's steps, in order.
var stepNames = []string{"fetch", "build", "test"}

// setScript replaces the shell script (the argument after "sh -c") that the
// container's podseq run starts.
func setScript(c *corev1.Container, script string) error {
	argv := mainArgv(c)
	for i := len(*argv) - 2; i > 0; i-- {
		if (*argv)[i] == "-c" && (*argv)[i-1] == "sh" {
			(*argv)[i+1] = script
			return nil
		}
	}
	return fmt.Errorf("container %s: no sh -c SCRIPT in %q", c.Name, *argv)
}

// terminated waits until every named container has terminated and returns
// their states.
func terminated(t *T, b *PodBuilder, limit time.Duration, names ...string) (map[string]*corev1.ContainerStateTerminated, error) {
	out := map[string]*corev1.ContainerStateTerminated{}
	err := proc.Poll(t.Ctx, limit, 100*time.Millisecond, func() error {
		for _, n := range names {
			st, err := t.Status(b, n)
			if err != nil {
				return err
			}
			if st == nil || st.State.Terminated == nil {
				return fmt.Errorf("%s not terminated yet", n)
			}
			out[n] = st.State.Terminated
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%w; %s", err, podDiag(t, b))
	}
	return out, nil
}

// podPhase waits until the pod's phase is want.
func podPhase(t *T, b *PodBuilder, want corev1.PodPhase, limit time.Duration) error {
	return proc.Poll(t.Ctx, limit, 100*time.Millisecond, func() error {
		p, err := t.Node.Pod(t.Ctx, b.Name)
		if err != nil || p == nil {
			return fmt.Errorf("pod not listed yet (%v)", err)
		}
		if p.Status.Phase != want {
			return fmt.Errorf("phase %s, want %s", p.Status.Phase, want)
		}
		return nil
	})
}

func stepsOrder(t *T) error {
	b, dir, err := graveyardPod(t, "steps/job.yaml", "Job", "steps-order")
	if err != nil {
		return err
	}
	if err := b.Start(); err != nil {
		return err
	}
	defer t.Stop(b)
	states, err := terminated(t, b, 90*time.Second, append([]string{"proxy"}, stepNames...)...)
	if err != nil {
		return err
	}
	if err := podPhase(t, b, corev1.PodSucceeded, 30*time.Second); err != nil {
		return fmt.Errorf("%w; %s", err, podDiag(t, b))
	}
	graves := map[string]*grave{}
	for _, n := range append([]string{"proxy"}, stepNames...) {
		if graves[n], err = readGrave(dir, n); err != nil {
			return err
		}
		// The proxy's httpd died of SIGTERM (143); its podseq run exits 0.
		if g := graves[n]; g.state != "died" || g.exitCode != "0" && n != "proxy" {
			return fmt.Errorf("%s's tombstone: %+v, want died with exit code 0", n, g)
		}
	}
	if graves["fetch"].born.Before(graves["proxy"].ready) {
		return fmt.Errorf("fetch born %s before the proxy was ready %s", graves["fetch"].born, graves["proxy"].ready)
	}
	for i := 1; i < len(stepNames); i++ {
		prev, cur := graves[stepNames[i-1]], graves[stepNames[i]]
		if !cur.born.After(prev.died) {
			return fmt.Errorf("%s born %s, before %s died %s", stepNames[i], cur.born, stepNames[i-1], prev.died)
		}
		// The next step's container may still be starting: the kubelet
		// starts them one at a time.
		t.Figure(stepNames[i-1]+" died→"+stepNames[i]+" born (with its container's start)", "%s", ms(cur.born.Sub(prev.died)))
	}
	if p := graves["proxy"]; p.died.Before(graves["test"].died) || states["proxy"].ExitCode != 0 {
		return fmt.Errorf("the proxy died %s (exit %d), the last step %s: want after it, exit 0", p.died, states["proxy"].ExitCode, graves["test"].died)
	}
	for _, n := range stepNames {
		if msg := states[n].Message; !strings.HasPrefix(msg, n+": succeeded in ") || states[n].ExitCode != 0 {
			return fmt.Errorf("%s: exit %d, termination message %q; want 0 and %q", n, states[n].ExitCode, msg, n+": succeeded in ...")
		}
	}
	t.Figure("phase", "%s", corev1.PodSucceeded)
	t.Figure("termination message", "%q", strings.TrimSpace(states["test"].Message))
	return nil
}

// How the failure scenarios make build fail.
type failHow int

const (
	failExit    failHow = iota // build exits 3
	failKill                   // build's container is SIGKILLed from the host
	failTimeout                // build sleeps past --step-timeout=1s
)

func stepsFailure(t *T, name string, how failHow) error {
	b, dir, err := graveyardPod(t, "steps/job.yaml", "Job", name)
	if err != nil {
		return err
	}
	build, err := b.Container("build")
	if err != nil {
		return err
	}
	// build fails once test's podseq run waits (its tombstone is there):
	// the lag to test's skip is then podseq's, not test's container start.
	script := "until [ -e /graveyard/test ]; do sleep 0.01; done; exit 3"
	if how != failExit {
		script = "exec sleep 60"
	}
	if err := setScript(build, script); err != nil {
		return err
	}
	if how == failTimeout {
		argv := mainArgv(build)
		if *argv, err = setFlag(*argv, "run", "step-timeout", "1s"); err != nil {
			return err
		}
	}
	if err := b.Start(); err != nil {
		return err
	}
	defer t.Stop(b)
	var killed time.Time
	if how == failKill {
		if _, err := waitGraves(t, dir, 60*time.Second, "build running", func(g map[string]*grave) bool {
			return g["build"].state == "ready"
		}, "build"); err != nil {
			return fmt.Errorf("%w; %s", err, podDiag(t, b))
		}
		if err := t.Node.KillContainer(t.Ctx, b.Name, "build"); err != nil {
			return err
		}
		// ctr returns once the signal is sent: the figure starts there.
		killed = time.Now()
		t.Logf("SIGKILLed build's container")
	}
	states, err := terminated(t, b, 90*time.Second, append([]string{"proxy"}, stepNames...)...)
	if err != nil {
		return err
	}
	if err := podPhase(t, b, corev1.PodFailed, 30*time.Second); err != nil {
		return fmt.Errorf("%w; %s", err, podDiag(t, b))
	}
	bg, err := readGrave(dir, "build")
	if err != nil {
		return err
	}
	tg, err := readGrave(dir, "test")
	if err != nil {
		return err
	}
	skippedAt := tg.skipped
	var wantBuild, wantBuildMsg, wantTestMsg string
	var buildCode int32
	switch how {
	case failExit:
		buildCode, wantBuild, wantBuildMsg = 3, "died 3", "build: failed: exited with code 3 after "
		wantTestMsg = "test: skipped: step build exited with code 3"
	case failTimeout:
		buildCode, wantBuild, wantBuildMsg = 124, "died 124", "build: failed: timed out after 1s, stopped (exit code 124)"
		wantTestMsg = "test: skipped: step build exited with code 124"
	case failKill:
		// podseq died with its container: no message, the tombstone says ready.
		buildCode, wantBuild, wantBuildMsg = 137, "ready ", ""
		wantTestMsg = "test: skipped: step build was killed before it recorded an exit code (SIGKILL or OOM)"
	}
	switch {
	case bg.state+" "+bg.exitCode != wantBuild:
		return fmt.Errorf("build's tombstone: %+v, want %s", bg, wantBuild)
	case states["build"].ExitCode != buildCode:
		return fmt.Errorf("build: exit %d, want %d", states["build"].ExitCode, buildCode)
	case !strings.HasPrefix(states["build"].Message, wantBuildMsg):
		return fmt.Errorf("build's termination message %q, want %q", states["build"].Message, wantBuildMsg)
	case tg.state != "skipped" || tg.exitCode != "125" || !tg.born.IsZero():
		return fmt.Errorf("test's tombstone: %+v, want skipped, exit code 125, never born", tg)
	case states["test"].ExitCode != 125 || strings.TrimSpace(states["test"].Message) != wantTestMsg:
		return fmt.Errorf("test: exit %d, message %q; want 125 and %q", states["test"].ExitCode, states["test"].Message, wantTestMsg)
	case states["proxy"].ExitCode != 0 || states["fetch"].ExitCode != 0:
		return fmt.Errorf("proxy exit %d, fetch exit %d: want 0 for both", states["proxy"].ExitCode, states["fetch"].ExitCode)
	}
	if how == failKill {
		// No event tells a released flock: the watchers' rescan (1s) does.
		t.Figure("SIGKILL→test skipped", "%s", ms(skippedAt.Sub(killed)))
	} else {
		// Recorded death to skip: the cascade is event-driven. A test
		// container that the kubelet started after build died (build's
		// --step-timeout runs from build's start) skips as its podseq run
		// starts: the lag is then counted from that start, its tombstone's
		// waiting time (the container's start before it is the kubelet's).
		from := bg.died
		if tg.waiting.After(from) {
			from = tg.waiting
		}
		lag := skippedAt.Sub(from)
		if lag < 0 || lag > time.Second {
			return fmt.Errorf("test skipped %s after build died (at %s; test's podseq run started at %s): want within a second",
				lag, bg.died.Format(time.StampMicro), tg.waiting.Format(time.StampMicro))
		}
		if from == tg.waiting {
			t.Figure("test's podseq run start (after build died)→test skipped", "%s", ms(lag))
		} else {
			t.Figure("build died→test skipped", "%s", ms(lag))
		}
	}
	t.Figure("phase", "%s", corev1.PodFailed)
	t.Figure("test's termination message", "%q", wantTestMsg)
	return nil
}

// stepsSmokeTest runs smoke-test.yaml without the smoke test's container
// restartPolicy: Never, and with the pod's restartPolicy OnFailure instead,
// which keeps a container that exited 0 terminated just the same. Kubelet
// v1.34's static pod source validates with empty PodValidationOptions
// (pkg/kubelet/config/common.go), which forbid a regular container's
// restartPolicy whatever the ContainerRestartRules gate says; only an API
// server with the gate admits it.
func stepsSmokeTest(t *T) error {
	b, dir, err := graveyardPod(t, "steps/smoke-test.yaml", "Deployment", "steps-smoke-test")
	if err != nil {
		return err
	}
	smokeC, err := b.Container("smoke-test")
	if err != nil {
		return err
	}
	if smokeC.RestartPolicy == nil || *smokeC.RestartPolicy != corev1.ContainerRestartPolicyNever {
		return fmt.Errorf("smoke-test.yaml: the smoke test's restartPolicy is %v, want Never", smokeC.RestartPolicy)
	}
	smokeC.RestartPolicy = nil
	b.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
	if err := b.Start(); err != nil {
		return err
	}
	defer t.Stop(b)
	states, err := terminated(t, b, 90*time.Second, "smoke-test")
	if err != nil {
		return err
	}
	if st := states["smoke-test"]; st.ExitCode != 0 || !strings.HasPrefix(st.Message, "smoke-test: succeeded in ") {
		return fmt.Errorf("smoke-test: exit %d, message %q", st.ExitCode, st.Message)
	}
	app, err := readGrave(dir, "app")
	if err != nil {
		return err
	}
	smoke, err := readGrave(dir, "smoke-test")
	if err != nil {
		return err
	}
	if app.ready.IsZero() || smoke.born.Before(app.ready) {
		return fmt.Errorf("smoke-test born %s, app ready %s", smoke.born, app.ready)
	}
	// The kubelet does not restart it, and the app serves on: two of the
	// kubelet's syncs later the status is the same.
	time.Sleep(3 * time.Second)
	st, err := t.Status(b, "smoke-test")
	if err != nil || st == nil {
		return fmt.Errorf("smoke-test's status: %v", err)
	}
	appSt, err := t.Status(b, "app")
	if err != nil || appSt == nil {
		return fmt.Errorf("app's status: %v", err)
	}
	if st.RestartCount != 0 || st.State.Terminated == nil || appSt.State.Running == nil {
		return fmt.Errorf("smoke-test restarts %d, app %s; %s", st.RestartCount, node.StateString(appSt.State), podDiag(t, b))
	}
	t.Figure("app ready→smoke-test born", "%s", ms(smoke.born.Sub(app.ready)))
	t.Figure("termination message", "%q", strings.TrimSpace(st.State.Terminated.Message))
	return nil
}
