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
	// The app's command stamps the end of its work last.
	app, err := b.Container("app")
	if err != nil {
		return err
	}
	argv := mainArgv(app)
	if len(*argv) == 0 {
		return fmt.Errorf("container app: no command")
	}
	if err := setScript(app, strings.TrimRight((*argv)[len(*argv)-1], "\n")+"\n"+Stamp("app.done")+"\n"); err != nil {
		return err
	}
	if err := b.Start(); err != nil {
		return err
	}
	defer t.Stop(b)
	if err := jobSucceeded(t, b); err != nil {
		return err
	}
	for _, name := range []string{"proxy", "app"} {
		st, err := t.Status(b, name)
		if err != nil || st == nil || st.State.Terminated == nil || st.State.Terminated.ExitCode != 0 {
			return fmt.Errorf("container %s did not exit 0: %v %v", name, st, err)
		}
	}
	// The order --shutdown promises: the app's command ends, then the
	// proxy's podseq run is asked to stop. The containers' own ends may
	// come in either order (the app's podseq wait exits once the proxy has
	// answered), and the API gives them in whole seconds, so the order is
	// read from the app's stamp and the proxy's log line, which the runtime
	// times when it reads it: after the proxy wrote it.
	done, err := b.ReadStamp("app.done")
	if err != nil {
		return fmt.Errorf("the app's work never ended: %w", err)
	}
	// The runtime may copy a container's last lines a moment after the
	// kubelet reports it exited.
	var stop node.LogLine
	err = proc.Poll(t.Ctx, 10*time.Second, 100*time.Millisecond, func() error {
		proxyLog, err := t.Node.ContainerLogLines(b.Name, "proxy")
		if err != nil {
			return err
		}
		var ok bool
		if stop, ok = firstLine(proxyLog, "stopping the command", "reason=POST /quitquitquit"); !ok {
			return fmt.Errorf("the proxy's podseq run was never stopped through /quitquitquit: its log has no such line")
		}
		if _, ok := firstLine(proxyLog, "stopped on request: exiting 0"); !ok {
			return fmt.Errorf("the proxy's podseq run did not exit 0 on request: its log has no \"stopped on request: exiting 0\"")
		}
		return nil
	})
	if err != nil {
		return err
	}
	if stop.At.Before(done) {
		return fmt.Errorf("the proxy was asked to stop at %s, before the app's work ended at %s",
			stop.At.Format(time.StampMicro), done.Format(time.StampMicro))
	}
	err = proc.Poll(t.Ctx, 10*time.Second, 100*time.Millisecond, func() error {
		appLog, err := t.Node.ContainerLogLines(b.Name, "app")
		if err == nil {
			if _, ok := firstLine(appLog, "--shutdown: stopped the podseq run of"); !ok {
				err = fmt.Errorf("the app's podseq wait does not say it stopped the proxy's podseq run")
			}
		}
		return err
	})
	if err != nil {
		return err
	}
	t.Figure("app done→proxy asked to stop", "%s", ms(stop.At.Sub(done)))
	return nil
}
