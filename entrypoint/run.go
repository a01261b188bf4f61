package entrypoint

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// Run serves the admin server, runs BeforeStart, starts the child and
// supervises it until it dies, and returns the exit code podseq should exit
// with: the child's (128+N when it died of signal N), except that a child
// stopped on request (Stop, /quitquitquit, ctx) that died of StopSignal
// returns 0, as a Job's sidecar must. Without a command it returns 0 when
// told to stop (SIGTERM, SIGINT, Stop, /quitquitquit, ctx).
//
// err is not nil when podseq itself failed; exitCode then says how:
// ExitNotFound or ExitCannotExec for a command that cannot be started, 1 for
// a BeforeStart error, 128+N for signal N before the child started.
// Canceling ctx stops the child like Stop. Run may be called once.
//
// The life of a run, in order: catch signals, serve the admin server, wait
// for what must start first (BeforeStart), supervise the child (or simulate
// one), and give the verdict (Finish).
func (s *Supervisor) Run(ctx context.Context) (exitCode int, err error) {
	if !s.ran.CompareAndSwap(false, true) {
		return 1, errors.New("entrypoint: Run called twice")
	}
	if s.cfg.Finish != nil {
		defer func() { exitCode, err = s.cfg.Finish(exitCode, err) }()
	}
	s.start = time.Now()
	// Signal handling first: nothing may be lost between the child's start
	// and here.
	sigs, chld, ignoreSignals := s.catchSignals()
	defer ignoreSignals()
	stopServing := s.serveAdmin()
	defer stopServing()
	if s.cfg.BeforeStart != nil {
		if stop, code, err := s.waitBeforeStart(ctx, sigs); stop {
			return code, err
		}
	}
	if len(s.cfg.Command) == 0 {
		return s.simulate(ctx, sigs), nil
	}
	return s.supervise(ctx, sigs, chld)
}

// catchSignals starts catching the signals podseq forwards, and SIGCHLD when
// there is a child to reap. The function it returns stops catching them.
func (s *Supervisor) catchSignals() (sigs, chld <-chan os.Signal, stop func()) {
	fwd := make(chan os.Signal, 32)
	signal.Notify(fwd, forwardedSignals...)
	if len(s.cfg.Command) == 0 {
		return fwd, nil, func() { signal.Stop(fwd) }
	}
	dead := make(chan os.Signal, 1)
	signal.Notify(dead, syscall.SIGCHLD)
	return fwd, dead, func() {
		signal.Stop(dead)
		signal.Stop(fwd)
	}
}

// serveAdmin starts the admin server, if there is one. The function it
// returns releases every long poll, stops the server and waits for it.
func (s *Supervisor) serveAdmin() (stop func()) {
	served := make(chan struct{})
	if s.ln == nil {
		close(served)
		s.log.Info("no admin server")
	} else {
		go func() {
			defer close(served)
			if err := s.srv.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.log.Error("admin server stopped", "err", err)
			}
		}()
		s.log.Info("listening", "addr", s.ln.Addr().String())
	}
	return func() {
		s.shutdown()
		<-served
	}
}

// waitBeforeStart runs BeforeStart while watching for signals and stop
// requests. stop reports that Run must end with code and err.
func (s *Supervisor) waitBeforeStart(ctx context.Context, sigs <-chan os.Signal) (stop bool, code int, err error) {
	s.state.setReason("waiting for what must start first")
	bctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	done := make(chan error, 1)
	go func() { done <- s.cfg.BeforeStart(bctx) }()
	stopCh := s.cfg.Stop
	var why error
	for {
		select {
		case err := <-done:
			return s.startOrNot(why, err)
		case sig := <-sigs:
			if sig == syscall.SIGTERM || sig == syscall.SIGINT {
				why = signalError{sig.(syscall.Signal)}
				cancel(why)
			} else {
				s.log.Debug("signal before the command started: not forwarded", "signal", SignalName(sig.(syscall.Signal)))
			}
		case reason, ok := <-stopCh:
			if !ok {
				stopCh, reason = nil, "stop channel closed"
			}
			why = errors.New(reason)
			cancel(why)
		case reason := <-s.quit:
			why = errors.New(reason)
			cancel(why)
		case <-ctx.Done():
			why = context.Cause(ctx)
			ctx = context.Background() // seen once
		}
	}
}

// startOrNot says whether the child starts once BeforeStart returned err:
// not when podseq was told to stop (why) or BeforeStart failed, and then
// with which code and error Run ends.
func (s *Supervisor) startOrNot(why, err error) (stop bool, code int, _ error) {
	if why != nil {
		var se signalError
		if errors.As(why, &se) {
			return true, 128 + int(se.sig), fmt.Errorf("%s before the command started", se)
		}
		s.log.Info("stopped before the command started", "reason", why.Error())
		return true, 0, nil
	}
	if err != nil {
		var ec ExitCoder
		if errors.As(err, &ec) {
			return true, ec.ExitCode(), err
		}
		return true, 1, err
	}
	return false, 0, nil
}

// signalError is a terminating signal podseq received.
type signalError struct{ sig syscall.Signal }

func (e signalError) Error() string { return "interrupted by " + SignalName(e.sig) }

// simulate is the simulated sidecar: podseq itself turns ready ReadyAfter
// after the start and serves until told to stop.
func (s *Supervisor) simulate(ctx context.Context, sigs <-chan os.Signal) int {
	pid := os.Getpid()
	s.emit(Event{Kind: Born, Time: time.Now(), PID: pid})
	s.state.setReason(fmt.Sprintf("simulated sidecar: ready after %s", s.cfg.ReadyAfter))
	timer := time.NewTimer(time.Until(s.start.Add(s.cfg.ReadyAfter)))
	defer timer.Stop()
	stopCh := s.cfg.Stop
	why := ""
	for why == "" {
		select {
		case <-timer.C:
			s.turnReady(pid)
		case sig := <-sigs:
			if sig == syscall.SIGTERM || sig == syscall.SIGINT {
				why = SignalName(sig.(syscall.Signal))
			}
		case reason, ok := <-stopCh:
			if !ok {
				stopCh, reason = nil, "stop channel closed"
			}
			why = reason
		case reason := <-s.quit:
			why = reason
		case <-ctx.Done():
			why = context.Cause(ctx).Error()
		}
	}
	s.log.Info("stopping", "reason", why)
	s.childDied(pid, 0, "stopped: "+why, false)
	return 0
}
