package main

import (
	"fmt"
	"time"
)

func init() {
	register(Scenario{
		Name: "delete-during-wait",
		Shows: "the pod is removed while podseq wait holds the postStart hook: the hook ends by podseq's --timeout " +
			"and the pod goes away after it (kubelet itself would wait for the hook forever; how fast it tears down " +
			"is the machine's, bounded at --timeout + grace + 30s)",
		Run: deleteDuringWait,
	})
}

func deleteDuringWait(t *T) error {
	const timeout, grace = 8 * time.Second, 2 * time.Second
	b, _, _, err := demoPod(t, "delete-during-wait", "1h", timeout.String())
	if err != nil {
		return err
	}
	if err := b.Start(); err != nil {
		return err
	}
	hookBegin, err := t.WaitStamp(b, "hook.begin", 60*time.Second)
	if err != nil {
		t.Stop(b)
		return err
	}
	time.Sleep(time.Second)
	removed := time.Now()
	if err := t.Node.RemovePod(b.Name); err != nil {
		return err
	}
	// Without podseq's own timeout the hook, and so the pod, would live on
	// indefinitely: the pod must go. How fast the kubelet then tears it down
	// depends on the machine's load (on 2 cores beside the cluster
	// scenarios, 10 to 13 s after the hook ended), so the bound on that is
	// wide (it only tells "gone" from the hour the hook would hold it), and
	// the tight one is on podseq's part: the hook ends by --timeout.
	const slack = time.Minute
	bound := timeout + grace + slack
	if err := t.Node.WaitPodGone(t.Ctx, b.Name, bound-time.Since(hookBegin)); err != nil {
		return fmt.Errorf("pod not torn down within --timeout %s + grace %s (+%s slack) of the hook's start: %w", timeout, grace, slack, err)
	}
	gone := time.Now()
	t.Figure("removed→gone", "%s", ms(gone.Sub(removed)))
	t.Figure("hook start→gone", "%s (bound %s + %s + %s slack)", ms(gone.Sub(hookBegin)), timeout, grace, slack)
	hookEnd, err := b.ReadStamp("hook.end")
	if err != nil {
		return fmt.Errorf("the hook's end: %w", err)
	}
	t.Figure("hook start→end", "%s", ms(hookEnd.Sub(hookBegin)))
	if d := hookEnd.Sub(hookBegin); d > timeout+2*time.Second {
		return fmt.Errorf("the hook ran %s after the pod was removed, over --timeout %s (+2s)", d, timeout)
	}
	return nil
}
