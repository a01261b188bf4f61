package main

import (
	"fmt"
	"time"
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
	if err := jobSucceeded(t, b); err != nil {
		return err
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
	return nil
}
