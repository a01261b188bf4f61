package main

import (
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/podseq/podseq/hack/internal/loopback"
)

func init() {
	register(Scenario{
		Name:  "init-wait",
		Shows: "an init container runs `podseq wait tcp://…` for a service that appears 3s later (a listener the harness opens on the host's loopback; hostNetwork pod); the app starts after it",
		Run:   initWait,
	})
}

func initWait(t *T) error {
	spec, err := t.manifest("init-wait/web.yaml")
	if err != nil {
		return err
	}
	port, err := loopback.FreePort()
	if err != nil {
		return err
	}
	b, err := t.NewPod("init-wait", spec)
	if err != nil {
		return err
	}
	b.Spec.HostNetwork = true
	if len(b.Spec.InitContainers) != 1 || len(b.Spec.Containers) < 1 {
		return fmt.Errorf("want one init container and an app, got %d and %d", len(b.Spec.InitContainers), len(b.Spec.Containers))
	}
	initC, app := &b.Spec.InitContainers[0], &b.Spec.Containers[0]
	argv := mainArgv(initC)
	replaced := false
	for i, a := range *argv {
		if strings.HasPrefix(a, "tcp://") {
			(*argv)[i] = fmt.Sprintf("tcp://127.0.0.1:%d", port)
			replaced = true
		}
	}
	if !replaced {
		return fmt.Errorf("init container %s: no tcp:// target in %q", initC.Name, *argv)
	}
	if *argv, err = setFlag(*argv, "wait", "timeout", "60s"); err != nil {
		return err
	}
	// exec would hide the exit code from the stamps: run it as a child.
	full, err := b.argv(initC)
	if err != nil {
		return err
	}
	initC.Command = append([]string{shell, "sh", "-c", Stamp("init.begin") + `; "$@"; rc=$?; ` + Stamp("init.end") + "; echo $rc > /out/init.rc; exit $rc", "sh"}, full...)
	initC.Args = nil
	if err := b.WrapMain(app, Stamp("app.started")); err != nil {
		return err
	}
	if err := b.Start(); err != nil {
		return err
	}
	defer t.Stop(b)
	if _, err := t.WaitStamp(b, "init.begin", 60*time.Second); err != nil {
		return err
	}
	time.Sleep(3 * time.Second)
	if _, err := b.ReadStamp("init.end"); err == nil {
		return fmt.Errorf("the init container finished before the service existed")
	}
	// The service is up the moment listen returns in the kernel, before
	// net.Listen returns here: its start is taken before.
	up := time.Now()
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return fmt.Errorf("open the service: %w", err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	// The kubelet starts the app at its next sync after the init container
	// exited: within its 10 s resync on a loaded node, often sooner.
	appStarted, err := t.WaitStamp(b, "app.started", 60*time.Second)
	if err != nil {
		return err
	}
	initEnd, err := b.ReadStamp("init.end")
	if err != nil {
		return err
	}
	if rc, _ := os.ReadFile(b.Out("init.rc")); strings.TrimSpace(string(rc)) != "0" {
		return fmt.Errorf("podseq wait exited %q, want 0", strings.TrimSpace(string(rc)))
	}
	if !initEnd.After(up) || !appStarted.After(initEnd) {
		return fmt.Errorf("order: service up %s, init end %s, app start %s", up.Format(time.StampMicro), initEnd.Format(time.StampMicro), appStarted.Format(time.StampMicro))
	}
	t.Figure("service up→init end", "%s", ms(initEnd.Sub(up)))
	t.Figure("init end→app start", "%s", ms(appStarted.Sub(initEnd)))
	return nil
}
