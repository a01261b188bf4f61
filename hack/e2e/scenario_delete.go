package main

import (
	"fmt"
	"time"
)

func init() {
	register(Scenario{
		Name: "delete-during-wait",
		Shows: "the pod is removed while podseq wait holds the postStart hook: teardown ends within podseq's " +
			"--timeout plus the grace period (kubelet itself would wait for the hook forever)",
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
	// Generous slack for a busy 2-core machine; without podseq's own timeout
	// the hook, and so the pod, would live on indefinitely.
	bound := timeout + grace + 10*time.Second
	if err := t.Node.WaitPodGone(t.Ctx, b.Name, bound-time.Since(hookBegin)); err != nil {
		return fmt.Errorf("pod not torn down within --timeout %s + grace %s (+10s slack) of the hook's start: %w", timeout, grace, err)
	}
	gone := time.Now()
	t.Figure("removed→gone", "%s", ms(gone.Sub(removed)))
	t.Figure("hook start→gone", "%s (bound %s + %s)", ms(gone.Sub(hookBegin)), timeout, grace)
	if hookEnd, err := b.ReadStamp("hook.end"); err == nil {
		t.Figure("hook start→end", "%s", ms(hookEnd.Sub(hookBegin)))
	}
	if d := gone.Sub(hookBegin); d > bound {
		return fmt.Errorf("teardown took %s from the hook's start, over --timeout %s + grace %s + 10s", d, timeout, grace)
	}
	return nil
}
