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

// supervise starts the child and runs the supervisor's one loop until the
// child died: signals in, signals out, zombies reaped, readiness, stop
// requests and the kill deadline.
func (s *Supervisor) supervise(ctx context.Context, sigs <-chan os.Signal, chld <-chan os.Signal) (int, error) {
	if os.Getpid() != 1 {
		if err := setSubreaper(); err != nil {
			s.log.Warn("podseq is not PID 1 and could not register as a child subreaper: "+
				"zombie processes the command leaves behind will not be reaped; "+
				"run podseq as the container's entrypoint, or on Linux 3.4 or later", "err", err)
		}
	}
	cmd := exec.Command(s.cfg.Command[0], s.cfg.Command[1:]...)
	// *os.File streams: exec starts no copying goroutine, so nothing needs
	// cmd.Wait. The reaper below is the only waiter.
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if s.cfg.Env != nil {
		cmd.Env = append(os.Environ(), s.cfg.Env()...)
	}
	if s.cfg.SignalGroup {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	}
	if err := cmd.Start(); err != nil {
		code, err := startError(s.cfg.Command[0], err)
		// Never born, dead all the same: OnEvent records it (PID 0).
		s.childDied(0, code, err.Error(), false)
		return code, err
	}
	pid := cmd.Process.Pid
	// Reaping by pid ourselves: let go of the os.Process (and its pidfd).
	_ = cmd.Process.Release()
	s.log.Info("started", "pid", pid, "command", s.cfg.Command[0])
	s.emit(Event{Kind: Born, Time: time.Now(), PID: pid})

	// Readiness.
	var readyAt <-chan time.Time
	monCtx, monCancel := context.WithCancel(context.Background())
	var monWG sync.WaitGroup
	defer func() {
		monCancel()
		monWG.Wait()
	}()
	switch {
	case len(s.cfg.Ready) > 0:
		s.state.setReason("no probe finished yet")
		monWG.Add(1)
		go func() {
			defer monWG.Done()
			probes.Monitor(monCtx, s.cfg.Ready, s.cfg.Schedule, s.observe, func(ready bool, r probes.Report) {
				if ready {
					s.turnReady(pid)
				} else {
					s.turnNotReady(pid, r.Pending())
				}
			})
		}()
	case s.cfg.ReadyAfter > 0:
		s.state.setReason(fmt.Sprintf("ready %s after the command started", s.cfg.ReadyAfter))
		t := time.NewTimer(s.cfg.ReadyAfter)
		defer t.Stop()
		readyAt = t.C
	default:
		s.turnReady(pid)
	}

	var (
		stopCh    = s.cfg.Stop
		ctxDone   = ctx.Done()
		stopped   bool // the stop signal went out
		requested bool // a stop was requested (not a signal to podseq)
		killTimer *time.Timer
		killAt    <-chan time.Time
		// The time limit (Timeout), and whether the child ran past it.
		limitAt  <-chan time.Time
		timedOut bool
		// BeforeForward in flight: its result, and how to hurry it.
		forwardNow chan os.Signal
		bfCancel   context.CancelFunc
	)
	defer func() {
		if killTimer != nil {
			killTimer.Stop()
		}
		if bfCancel != nil {
			bfCancel()
			<-forwardNow
		}
	}()
	if s.cfg.Timeout > 0 {
		t := time.NewTimer(s.cfg.Timeout)
		defer t.Stop()
		limitAt = t.C
	}
	armKill := func() {
		if killTimer == nil {
			killTimer = time.NewTimer(s.cfg.Grace)
			killAt = killTimer.C
		}
	}
	stop := func(reason string) {
		requested = true
		if stopped {
			s.log.Info("already stopping", "reason", reason)
			return
		}
		stopped = true
		s.log.Info("stopping the command", "reason", reason, "signal", SignalName(s.cfg.StopSignal), "grace", s.cfg.Grace.String())
		s.signal(pid, s.cfg.StopSignal)
		armKill()
	}
	forwardTerm := func(sig syscall.Signal) {
		out := sig
		if sig == syscall.SIGTERM {
			out = s.cfg.StopSignal
		}
		s.log.Info("forwarding", "signal", SignalName(sig), "sent", SignalName(out), "grace", s.cfg.Grace.String())
		s.signal(pid, out)
		stopped = true
		armKill()
	}

	for {
		select {
		case <-chld:
			if ws, ok := s.reap(pid); ok {
				code := exitCode(ws)
				s.log.Info("command exited", "pid", pid, "code", code, "status", describe(ws))
				s.childDied(pid, code, fmt.Sprintf("command exited with code %d", code), timedOut)
				if timedOut {
					return ExitTimedOut, fmt.Errorf("timed out after %s: the command was stopped (%s)", s.cfg.Timeout, describe(ws))
				}
				if requested && ws.Signaled() && ws.Signal() == s.cfg.StopSignal {
					s.log.Info("stopped on request: exiting 0")
					return 0, nil
				}
				return code, nil
			}
		case sig := <-sigs:
			sn := sig.(syscall.Signal)
			if sn != syscall.SIGTERM && sn != syscall.SIGINT {
				s.log.Debug("forwarding", "signal", SignalName(sn))
				s.signal(pid, sn)
				continue
			}
			switch {
			case bfCancel != nil:
				// A second terminating signal: stop waiting, forward now.
				bfCancel()
			case s.cfg.BeforeForward != nil && !stopped:
				bctx, cancel := context.WithTimeout(context.Background(), s.cfg.Grace)
				bfCancel = cancel
				forwardNow = make(chan os.Signal, 1)
				s.log.Info("holding the signal back until what must stop first has stopped", "signal", SignalName(sn))
				go func(ch chan<- os.Signal) {
					s.cfg.BeforeForward(bctx, sig)
					ch <- sig
				}(forwardNow)
			default:
				forwardTerm(sn)
			}
		case sig := <-forwardNow:
			bfCancel()
			bfCancel, forwardNow = nil, nil
			forwardTerm(sig.(syscall.Signal))
		case reason, ok := <-stopCh:
			if !ok {
				stopCh, reason = nil, "stop channel closed"
			}
			stop(reason)
		case reason := <-s.quit:
			stop(reason)
		case <-ctxDone:
			ctxDone = nil
			stop(context.Cause(ctx).Error())
		case <-readyAt:
			s.turnReady(pid)
		case <-limitAt:
			limitAt, timedOut = nil, true
			s.log.Warn("the command ran past its time limit: stopping it", "timeout", s.cfg.Timeout.String())
			stop(fmt.Sprintf("timed out after %s", s.cfg.Timeout))
		case <-killAt:
			killAt = nil
			s.log.Warn("the command outlived the grace period: killing it", "grace", s.cfg.Grace.String())
			s.signal(pid, syscall.SIGKILL)
		}
	}
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
