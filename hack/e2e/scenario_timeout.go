package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/podseq/podseq/hack/e2e/internal/node"
	"github.com/podseq/podseq/hack/e2e/internal/proc"
)

func init() {
	register(Scenario{
		Name: "timeout",
		Shows: "a sidecar that never turns ready: `podseq wait --timeout 5s` fails, kubelet kills and restarts the sidecar, " +
			"podseq's first line is in the kubelet log (and in state.waiting.message when kubelet shows it)",
		Run: func(t *T) error { return neverReady(t, "timeout", false) },
	})
	register(Scenario{
		Name:  "fail-open",
		Shows: "the same with --fail-open: the hook exits 0 after 5s, the sidecar keeps running, the app starts",
		Run:   func(t *T) error { return neverReady(t, "fail-open", true) },
	})
}

// neverReady runs the demo pod with a sidecar that stays unready for an
// hour and a 5s podseq wait in its postStart.
func neverReady(t *T, name string, failOpen bool) error {
	b, sidecar, app, err := demoPod(t, name, "1h", "5s")
	if err != nil {
		return err
	}
	if failOpen {
		hook := hookArgv(sidecar)
		if *hook, err = setBoolFlag(*hook, "wait", "fail-open"); err != nil {
			return err
		}
	}
	if err := b.WrapMain(app, Stamp("app.started")); err != nil {
		return err
	}
	if err := b.Start(); err != nil {
		return err
	}
	defer t.Stop(b)

	hookEnd, err := t.WaitStamp(b, "hook.end", 60*time.Second)
	if err != nil {
		return err
	}
	hookBegin, err := b.ReadStamp("hook.begin")
	if err != nil {
		return err
	}
	t.Figure("hook ran", "%s", ms(hookEnd.Sub(hookBegin)))
	appStarted, err := t.WaitStamp(b, "app.started", 30*time.Second)
	if err != nil {
		return fmt.Errorf("app never started after the hook ended: %w", err)
	}
	t.Figure("hook end→app start", "%s", ms(appStarted.Sub(hookEnd)))
	firstRC := hookCodes(b, "")
	if d := hookEnd.Sub(hookBegin); d < 5*time.Second || d > 15*time.Second {
		return fmt.Errorf("the hook ran %s, want about 5s (--timeout 5s)", d)
	}

	if failOpen {
		if len(firstRC) == 0 || firstRC[0] != "0" {
			return fmt.Errorf("podseq wait --fail-open exited %v, want 0", firstRC)
		}
		// The sidecar must still run, unrestarted, a few seconds on. The
		// kubelet's status of it can lag behind on a busy node: wait for it
		// to say running (60 s, as elsewhere: 20 s ran out once with 45
		// scenarios and a release build beside it, the sidecar long started
		// by its stamp), but fail at once on a restart.
		time.Sleep(3 * time.Second)
		if err := proc.Poll(t.Ctx, 60*time.Second, 250*time.Millisecond, func() error {
			st, err := t.Status(b, "sidecar")
			if err != nil || st == nil {
				return fmt.Errorf("sidecar status: %v", err)
			}
			if st.RestartCount != 0 || b.StampCount("sidecar.started") != 1 {
				return proc.GiveUp(fmt.Errorf("sidecar restarts=%d, started %d times, want never restarted", st.RestartCount, b.StampCount("sidecar.started")))
			}
			if st.State.Running == nil {
				return fmt.Errorf("sidecar state=%s, want running", node.StateString(st.State))
			}
			return nil
		}); err != nil {
			return err
		}
		if n := b.StampCount("sidecar.started"); n != 1 {
			return fmt.Errorf("sidecar started %d times, want 1", n)
		}
		t.Figure("sidecar", "running, 0 restarts")
		return nil
	}

	if len(firstRC) == 0 || firstRC[0] != "1" {
		return fmt.Errorf("podseq wait exited %v, want 1 (not ready by --timeout)", firstRC)
	}
	// kubelet kills the sidecar (FailedPostStartHook), then restarts it after
	// the crash-loop back-off (10s). Watch the status meanwhile for the hook's
	// message in state.waiting.
	var waitingMsg string
	err = proc.Poll(t.Ctx, 60*time.Second, 250*time.Millisecond, func() error {
		st, err := t.Status(b, "sidecar")
		if err != nil || st == nil {
			return fmt.Errorf("sidecar status: %v", err)
		}
		if w := st.State.Waiting; w != nil && waitingMsg == "" {
			if i := strings.Index(w.Message, "podseq: not ready after"); i >= 0 {
				msg := w.Message[i:]
				if j := strings.IndexAny(msg, "\\\n\""); j > 0 {
					msg = msg[:j]
				}
				waitingMsg = w.Reason + ": …" + msg
			}
		}
		if st.RestartCount < 1 || b.StampCount("sidecar.started") < 2 {
			return fmt.Errorf("sidecar restarts=%d, started %d times, state %s", st.RestartCount, b.StampCount("sidecar.started"), node.StateString(st.State))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("kubelet did not restart the sidecar: %w", err)
	}
	t.Figure("sidecar", "killed and restarted")
	log, err := t.Node.KubeletLog()
	if err != nil {
		return err
	}
	// klog prints the hook's output on the lines after the one naming the pod.
	const want = "podseq: not ready after 5s: http://localhost:15780/ready"
	lines := strings.Split(log, "\n")
	found := ""
	for i, l := range lines {
		if !strings.Contains(l, want) {
			continue
		}
		for j := max(0, i-10); j < i && found == ""; j++ {
			if strings.Contains(lines[j], b.Name+"-"+node.Name) {
				found = strings.TrimSpace(l)
			}
		}
	}
	if found == "" {
		return fmt.Errorf("podseq's failure line %q is not in the kubelet log for pod %s", want, b.Name)
	}
	t.Figure("kubelet log", "%q", found)
	// kubelet v1.34 keeps the hook's output in the killed sidecar's
	// state.waiting (reason PostStartHookError) until the back-off restart.
	if waitingMsg == "" {
		return fmt.Errorf("podseq's failure line never showed in the sidecar's state.waiting.message")
	}
	t.Figure("state.waiting", "%q", waitingMsg)
	return nil
}
