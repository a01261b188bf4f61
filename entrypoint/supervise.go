package entrypoint

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/podseq/podseq/internal/exitcode"
	"github.com/podseq/podseq/probes"
)

// supervise is the life of the child, in the order of tini's main loop:
// become the reaper, spawn the child and record its birth, watch its
// readiness, wait for its death while forwarding signals and stopping it on
// request, and record its death.
func (s *Supervisor) supervise(ctx context.Context, sigs <-chan os.Signal, chld <-chan os.Signal) (int, error) {
	s.becomeReaper()
	pid, err := s.spawn()
	if err != nil {
		code, err := startError(s.cfg.Command[0], err)
		// Never born, dead all the same: OnEvent records it (PID 0).
		s.childDied(0, code, err.Error(), false)
		return code, err
	}
	s.log.Info("started", "pid", pid, "command", s.cfg.Command[0])
	s.emit(Event{Kind: Born, Time: time.Now(), PID: pid})
	stopWatching := s.watchReadiness(pid)
	defer stopWatching()
	c := s.newChild(ctx, pid)
	defer c.release()
	ws := c.waitAndForward(sigs, chld)
	return s.recordDeath(c, ws)
}

// becomeReaper makes podseq the reaper of the orphans its child leaves: it
// is when it is PID 1, else it registers as a child subreaper, or warns.
func (s *Supervisor) becomeReaper() {
	if os.Getpid() == 1 {
		return
	}
	if err := setSubreaper(); err != nil {
		s.log.Warn("podseq is not PID 1 and could not register as a child subreaper: "+
			"zombie processes the command leaves behind will not be reaped; "+
			"run podseq as the container's entrypoint, or on Linux 3.4 or later", "err", err)
	}
}

// spawn starts the child with podseq's streams and returns its pid.
func (s *Supervisor) spawn() (pid int, err error) {
	cmd := exec.Command(s.cfg.Command[0], s.cfg.Command[1:]...)
	// *os.File streams: exec starts no copying goroutine, so nothing needs
	// cmd.Wait. The reaper (reap) is the only waiter.
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if s.cfg.Env != nil {
		cmd.Env = append(os.Environ(), s.cfg.Env()...)
	}
	if s.cfg.SignalGroup {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	}
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	pid = cmd.Process.Pid
	// Reaping by pid ourselves: let go of the os.Process (and its pidfd).
	_ = cmd.Process.Release()
	return pid, nil
}

// watchReadiness turns the child ready as Config says: when its Ready
// targets pass (and not ready when they fail), ReadyAfter after its start, or
// at once. The function it returns stops the watch and waits for it.
func (s *Supervisor) watchReadiness(pid int) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	switch {
	case len(s.cfg.Ready) > 0:
		s.state.setReason("no probe finished yet")
		wg.Go(func() {
			probes.Monitor(ctx, s.cfg.Ready, s.cfg.Schedule, s.observe, func(ready bool, r probes.Report) {
				if ready {
					s.turnReady(pid)
				} else {
					s.turnNotReady(pid, r.Pending())
				}
			})
		})
	case s.cfg.ReadyAfter > 0:
		s.state.setReason(fmt.Sprintf("ready %s after the command started", s.cfg.ReadyAfter))
		t := time.NewTimer(s.cfg.ReadyAfter)
		wg.Go(func() {
			defer t.Stop()
			select {
			case <-t.C:
				s.turnReady(pid)
			case <-ctx.Done():
			}
		})
	default:
		s.turnReady(pid)
	}
	return func() {
		cancel()
		wg.Wait()
	}
}

// recordDeath tells everyone that the child died with status ws, and
// returns what Run returns for it.
func (s *Supervisor) recordDeath(c *child, ws syscall.WaitStatus) (int, error) {
	code := exitCode(ws)
	s.log.Info("command exited", "pid", c.pid, "code", code, "status", describe(ws))
	s.childDied(c.pid, code, fmt.Sprintf("command exited with code %d", code), c.timedOut)
	if c.timedOut {
		return ExitTimedOut, fmt.Errorf("timed out after %s: the command was stopped (%s)", s.cfg.Timeout, describe(ws))
	}
	if c.requested && ws.Signaled() && ws.Signal() == s.cfg.StopSignal {
		s.log.Info("stopped on request: exiting 0")
		return 0, nil
	}
	return code, nil
}

// signal sends sig to the child, or to its process group.
func (s *Supervisor) signal(pid int, sig syscall.Signal) {
	target := pid
	if s.cfg.SignalGroup {
		target = -pid
	}
	if err := syscall.Kill(target, sig); err != nil {
		if errors.Is(err, syscall.ESRCH) {
			s.log.Debug("signal not delivered: no such process", "signal", SignalName(sig), "pid", target)
			return
		}
		s.log.Warn("signal not delivered", "signal", SignalName(sig), "pid", target, "err", err)
	}
}

// reap collects every child that has exited, the main one and any orphan the
// kernel handed to podseq, and reports the main child's status once it died.
// It is the process's only waiter.
func (s *Supervisor) reap(main int) (ws syscall.WaitStatus, died bool) {
	for {
		var st syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &st, syscall.WNOHANG, nil)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil || pid <= 0 {
			return ws, died
		}
		if pid == main {
			ws, died = st, true
			continue
		}
		s.log.Debug("reaped an orphan", "pid", pid, "status", describe(st))
	}
}

// exitCode is a wait status as a shell reports it: the exit code, or 128+N
// for death by signal N.
func exitCode(ws syscall.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

func describe(ws syscall.WaitStatus) string {
	if ws.Signaled() {
		return "killed by " + SignalName(ws.Signal())
	}
	return fmt.Sprintf("exit %d", ws.ExitStatus())
}

// startError turns a failed start into a shell's exit code (127 not found,
// 126 cannot execute) and one line.
func startError(name string, err error) (int, error) {
	var ee *exec.Error
	if errors.As(err, &ee) {
		err = ee.Err
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	if code := exitcode.ForStart(err); code == ExitCannotExec {
		return code, fmt.Errorf("cannot execute %s: %v", name, err)
	}
	return ExitNotFound, fmt.Errorf("command not found: %s: %v", name, err)
}

// observe feeds every probe attempt to the metrics and to /ready's reason.
func (s *Supervisor) observe(a probes.Attempt) {
	s.m.observe(a)
	if a.Err != nil {
		s.state.setReasonIfNotReady(a.Target.Name + ": " + a.Err.Error())
	}
}
