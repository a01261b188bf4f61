package main

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
)

func init() {
	register(Scenario{
		Name: "job-shutdown",
		Shows: "manifests/ordering/job-shutdown.yaml: the app's `podseq wait --shutdown` waits for the proxy's " +
			"podseq run, runs the app, then stops the proxy through /quitquitquit: both exit 0, the pod reaches Succeeded",
		Run: jobShutdown,
	})
}

func jobShutdown(t *T) error {
	spec, file, err := t.LoadPodSpec("ordering/job-shutdown.yaml", "Job")
	if err != nil {
		return err
	}
	t.Figure("pod", "manifests/%s", file)
	b, err := t.NewPod("job-shutdown", spec)
	if err != nil {
		return err
	}
	if err := b.Start(); err != nil {
		return err
	}
	defer t.Stop(b)
	var phase corev1.PodPhase
	err = poll(t.Ctx, 90*time.Second, 100*time.Millisecond, func() error {
		p, err := t.Node.Pod(t.Ctx, b.Name)
		if err != nil || p == nil {
			return fmt.Errorf("pod not listed yet (%v)", err)
		}
		if phase = p.Status.Phase; phase == corev1.PodSucceeded || phase == corev1.PodFailed {
			return nil
		}
		return fmt.Errorf("phase %s", phase)
	})
	if err != nil {
		return fmt.Errorf("the Job's pod did not finish: %w; %s", err, podDiag(t, b))
	}
	if phase != corev1.PodSucceeded {
		return fmt.Errorf("the Job's pod is %s, want Succeeded; %s", phase, podDiag(t, b))
	}
	ended := map[string]time.Time{}
	for _, name := range []string{"proxy", "app"} {
		st, err := t.Status(b, name)
		if err != nil || st == nil || st.State.Terminated == nil || st.State.Terminated.ExitCode != 0 {
			return fmt.Errorf("container %s did not exit 0: %v %v", name, st, err)
		}
		ended[name] = st.State.Terminated.FinishedAt.Time
	}
	if ended["proxy"].Before(ended["app"]) {
		return fmt.Errorf("the proxy ended %s before the app %s", ended["proxy"], ended["app"])
	}
	t.Figure("phase", "%s", phase)
	return nil
}
