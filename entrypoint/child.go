package entrypoint

import (
	"context"
	"fmt"
	"os"
	"syscall"
	"time"
)

// child is a live child as the supervisor's loop sees it: where a stop
// stands, the deadlines that run, and a terminating signal held back.
type child struct {
	s   *Supervisor
	pid int
	ctx context.Context

	// Stop requests: Config.Stop (nil once closed) and ctx (nil once seen).
	stopCh  <-chan string
	ctxDone <-chan struct{}
	// stopped: the stop signal went out; requested: a stop was requested
	// (not a signal to podseq).
	stopped, requested bool

	// The time limit (Config.Timeout), and whether the child ran past it.
	limit    *time.Timer
	limitAt  <-chan time.Time
	timedOut bool
	// The kill deadline, armed when the stop signal goes out.
	kill   *time.Timer
	killAt <-chan time.Time

	// A terminating signal that BeforeForward holds back: it arrives on held
	// when it may go, and hurry makes that now.
	held  chan os.Signal
	hurry context.CancelFunc
}

// newChild starts the watch over the child pid: the stop requests of
// Config.Stop, /quitquitquit and ctx, and the time limit.
func (s *Supervisor) newChild(ctx context.Context, pid int) *child {
	c := &child{s: s, pid: pid, ctx: ctx, stopCh: s.cfg.Stop, ctxDone: ctx.Done()}
	if s.cfg.Timeout > 0 {
		c.limit = time.NewTimer(s.cfg.Timeout)
		c.limitAt = c.limit.C
	}
	return c
}

// release stops the timers and waits for a BeforeForward in flight.
func (c *child) release() {
	if c.limit != nil {
		c.limit.Stop()
	}
	if c.kill != nil {
		c.kill.Stop()
	}
	if c.hurry != nil {
		c.hurry()
		<-c.held
	}
}

// waitAndForward is the supervisor's one loop, as tini's
// wait_and_forward_signal and reap_zombies: each signal, stop request and
// deadline is handled as it comes, every zombie is reaped, and the child's
// wait status is returned once it died.
func (c *child) waitAndForward(sigs <-chan os.Signal, chld <-chan os.Signal) syscall.WaitStatus {
	for {
		select {
		case <-chld:
			if ws, died := c.s.reap(c.pid); died {
				return ws
			}
		case sig := <-sigs:
			c.signaled(sig.(syscall.Signal))
		case sig := <-c.held:
			c.hurry()
			c.held, c.hurry = nil, nil
			c.forwardTerm(sig.(syscall.Signal))
		case reason, ok := <-c.stopCh:
			if !ok {
				c.stopCh, reason = nil, "stop channel closed"
			}
			c.stop(reason)
		case reason := <-c.s.quit:
			c.stop(reason)
		case <-c.ctxDone:
			c.ctxDone = nil
			c.stop(context.Cause(c.ctx).Error())
		case <-c.limitAt:
			c.limitAt, c.timedOut = nil, true
			c.s.log.Warn("the command ran past its time limit: stopping it", "timeout", c.s.cfg.Timeout.String())
			c.stop(fmt.Sprintf("timed out after %s", c.s.cfg.Timeout))
		case <-c.killAt:
			c.killAt = nil
			c.s.log.Warn("the command outlived the grace period: killing it", "grace", c.s.cfg.Grace.String())
			c.s.signal(c.pid, syscall.SIGKILL)
		}
	}
}

// signaled passes a signal podseq received on: at once, but for a
// terminating one (SIGTERM, SIGINT) that BeforeForward holds back first. A
// second terminating signal while one is held makes it go now.
func (c *child) signaled(sig syscall.Signal) {
	switch {
	case sig != syscall.SIGTERM && sig != syscall.SIGINT:
		c.s.log.Debug("forwarding", "signal", SignalName(sig))
		c.s.signal(c.pid, sig)
	case c.hurry != nil:
		c.hurry()
	case c.s.cfg.BeforeForward != nil && !c.stopped:
		c.holdBack(sig)
	default:
		c.forwardTerm(sig)
	}
}

// holdBack runs BeforeForward for sig, for at most Grace: sig arrives on
// c.held when it may be forwarded.
func (c *child) holdBack(sig syscall.Signal) {
	ctx, cancel := context.WithTimeout(context.Background(), c.s.cfg.Grace)
	c.hurry = cancel
	c.held = make(chan os.Signal, 1)
	c.s.log.Info("holding the signal back until what must stop first has stopped", "signal", SignalName(sig))
	go func(held chan<- os.Signal) {
		c.s.cfg.BeforeForward(ctx, sig)
		held <- sig
	}(c.held)
}

// forwardTerm forwards a terminating signal, SIGTERM as StopSignal, and arms
// the kill deadline.
func (c *child) forwardTerm(sig syscall.Signal) {
	out := sig
	if sig == syscall.SIGTERM {
		out = c.s.cfg.StopSignal
	}
	c.s.log.Info("forwarding", "signal", SignalName(sig), "sent", SignalName(out), "grace", c.s.cfg.Grace.String())
	c.s.signal(c.pid, out)
	c.stopped = true
	c.armKill()
}

// stop stops the child on request: StopSignal, then SIGKILL after Grace.
func (c *child) stop(reason string) {
	c.requested = true
	if c.stopped {
		c.s.log.Info("already stopping", "reason", reason)
		return
	}
	c.stopped = true
	c.s.log.Info("stopping the command", "reason", reason, "signal", SignalName(c.s.cfg.StopSignal), "grace", c.s.cfg.Grace.String())
	c.s.signal(c.pid, c.s.cfg.StopSignal)
	c.armKill()
}

// armKill starts the grace period, once: the child is killed at its end.
func (c *child) armKill() {
	if c.kill == nil {
		c.kill = time.NewTimer(c.s.cfg.Grace)
		c.killAt = c.kill.C
	}
}
