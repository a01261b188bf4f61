// Command demo shows what podseq is for, on this machine, with nothing but Go:
// a simulated pod started the way kubelet starts one, with real podseq
// processes in it, and a timeline of what happened when.
//
// Kubelet starts a pod's containers one at a time, in spec order, and runs a
// container's postStart hook before it starts the next one; a hook that
// fails gets its container killed, and the next container starts anyway. The
// simulated kubelet here does the same, with processes for containers:
//
//  1. with podseq: the sidecar is `podseq run` supervising a fake sidecar
//     that turns ready after a delay, its postStart hook is `podseq wait`,
//     and the app starts only once the sidecar is ready;
//
//  2. the same pod without podseq: the app starts at once, too early;
//
//  3. with podseq, the sidecar crashes before it is ready: the hook fails,
//     its first line is what kubelet keeps, and the app starts anyway.
//
//     go run ./demo -podseq ../bin/podseq [-delay 2s]
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/podseq/podseq/hack/internal/loopback"
)

// The demo's own executable plays the fake sidecar and the fake app, when its
// first argument is one of these.
const (
	roleSidecar = "fake-sidecar"
	roleApp     = "fake-app"
)

// marker starts the lines the fake containers print for the timeline:
// "demo-event WHO MESSAGE".
const marker = "demo-event "

// hookTimeout is the --timeout of the hook in the crash case: the hook runs
// outside the sidecar's process tree here, so it fails at its deadline.
const hookTimeout = 3 * time.Second

func main() {
	playRole()
	podseq := flag.String("podseq", "bin/podseq", "the podseq binary")
	delay := flag.Duration("delay", 2*time.Second, "how long the fake sidecar takes to turn ready")
	flag.Parse()
	if err := demo(os.Stdout, *podseq, *delay); err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		os.Exit(1)
	}
}

// playRole plays the fake container its arguments name, if any, and exits.
func playRole() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case roleSidecar:
			os.Exit(fakeSidecar(os.Args[2:]))
		case roleApp:
			os.Exit(fakeApp(os.Args[2:]))
		}
	}
}

func demo(out io.Writer, podseq string, delay time.Duration) error {
	if _, err := os.Stat(podseq); err != nil {
		return fmt.Errorf("%w (run make build first)", err)
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	start := time.Now()
	fmt.Fprintf(out, "A simulated pod, started as kubelet starts one: containers one at a time in spec order,\n"+
		"each one's postStart hook run to its end before the next container starts. The sidecar\n"+
		"takes %s to turn ready; the app's first request goes through it.\n", delay)

	steps := []struct {
		title string
		run   func(*pod) error
	}{
		{"1. with podseq: the sidecar runs under podseq run; its postStart hook, podseq wait", func(p *pod) error {
			return p.withPodseq(podseq, self, delay, 0, 10*time.Second)
		}},
		{"2. the same pod without podseq", func(p *pod) error { return p.withoutPodseq(self, delay) }},
		{fmt.Sprintf("3. with podseq, and the sidecar crashes %s after it starts", delay/2), func(p *pod) error {
			return p.withPodseq(podseq, self, delay, delay/2, hookTimeout)
		}},
	}
	for _, s := range steps {
		fmt.Fprintf(out, "\n== %s ==\n", s.title)
		p := &pod{out: out, start: time.Now(), seen: map[string]time.Time{}}
		err := s.run(p)
		p.teardown()
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "=> %s\n", p.verdict())
	}
	fmt.Fprintf(out, "\n(%.1fs) In a cluster: make load-2-minikube or make kind-load apply manifests/demo.\n", time.Since(start).Seconds())
	return nil
}

// pod is one simulated pod: its containers and its timeline.
type pod struct {
	out        io.Writer
	start      time.Time
	mu         sync.Mutex
	seen       map[string]time.Time // "sidecar ready", "app started": when
	containers []*container
	hookFailed bool
}

// container is one running container: its main process.
type container struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
}

// event prints one line of the timeline, the time since the pod started
// first.
func (p *pod) event(who, msg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	fmt.Fprintf(p.out, "%6.3fs  %-8s %s\n", now.Sub(p.start).Seconds(), who, msg)
	key := who + " " + strings.TrimRight(strings.Fields(msg + " x")[0], ";:,.")
	if _, ok := p.seen[key]; !ok {
		p.seen[key] = now
	}
}

// detail prints a line under the previous one.
func (p *pod) detail(msg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.out, "%6s  %-8s   %s\n", "", "", msg)
}

// when returns when who first said a message starting with word.
func (p *pod) when(who, word string) (time.Time, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	t, ok := p.seen[who+" "+word]
	return t, ok
}

// startContainer starts a container's main process, as kubelet's
// StartContainer: the lines it prints for the timeline go there.
func (p *pod) startContainer(name, show string, argv ...string) *container {
	p.event("kubelet", "start "+name+": "+show)
	c := &container{name: name, cmd: exec.Command(argv[0], argv[1:]...), done: make(chan struct{})}
	c.cmd.Stdout = io.Discard
	c.cmd.Stderr = &lineWriter{line: func(l string) {
		if rest, ok := strings.CutPrefix(l, marker); ok {
			who, msg, _ := strings.Cut(rest, " ")
			p.event(who, msg)
		}
	}}
	if err := c.cmd.Start(); err != nil {
		p.event("kubelet", "container "+name+" failed to start: "+err.Error())
		close(c.done)
		return c
	}
	go func() {
		defer close(c.done)
		_ = c.cmd.Wait()
	}()
	p.containers = append(p.containers, c)
	return c
}

// postStart runs an exec hook to its end, as kubelet does before it starts
// the next container. Kubelet keeps a failed hook's stdout then stderr, and
// kills the container; the next one starts anyway.
func (p *pod) postStart(c *container, hook ...string) {
	p.event("kubelet", c.name+"'s postStart hook: podseq "+strings.Join(hook[1:], " "))
	cmd := exec.Command(hook[0], hook[1:]...)
	// Not the container's log of this machine's PID 1: this pod is simulated.
	cmd.Env = append(os.Environ(), "PODSEQ_CONTAINER_LOG=false")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err == nil {
		p.event("kubelet", "postStart hook of "+c.name+" returned 0")
		return
	}
	p.hookFailed = true
	first, _, _ := strings.Cut(stdout.String()+stderr.String(), "\n")
	p.event("kubelet", fmt.Sprintf("postStart hook of %s failed (exit %d); kubelet keeps its first line:", c.name, cmd.ProcessState.ExitCode()))
	p.detail(first)
	select {
	case <-c.done:
		p.event("kubelet", fmt.Sprintf("kill container %s (FailedPostStartHook): it had exited, code %d", c.name, c.cmd.ProcessState.ExitCode()))
	default:
		p.event("kubelet", "kill container "+c.name+" (FailedPostStartHook)")
		stop(c)
	}
}

// withPodseq runs the pod with podseq: the sidecar is podseq run in front of
// the fake sidecar (which crashes after crashAfter, unless 0), its postStart
// hook podseq wait on podseq run's admin endpoint, then the app.
func (p *pod) withPodseq(podseq, self string, delay, crashAfter, timeout time.Duration) error {
	admin, side, err := ports()
	if err != nil {
		return err
	}
	ready := fmt.Sprintf("http://%s/ready", side)
	show := fmt.Sprintf("podseq run --ready=%s -- fake-sidecar", ready)
	c := p.startContainer("sidecar", show, podseq, "run", "--quiet", "--listen="+admin, "--ready="+ready,
		"--", self, roleSidecar, side, delay.String(), crashAfter.String())
	p.postStart(c, podseq, "wait", "--timeout="+timeout.String(), "http://"+admin+"/ready")
	return p.app(self, side)
}

// withoutPodseq runs the same pod with no podseq: the fake sidecar alone,
// no hook, then the app; it waits for the sidecar to turn ready, late.
func (p *pod) withoutPodseq(self string, delay time.Duration) error {
	_, side, err := ports()
	if err != nil {
		return err
	}
	p.startContainer("sidecar", "fake-sidecar", self, roleSidecar, side, delay.String(), "0s")
	if err := p.app(self, side); err != nil {
		return err
	}
	deadline := time.Now().Add(delay + 10*time.Second)
	for {
		if _, ok := p.when("sidecar", "ready"); ok {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("the fake sidecar never turned ready")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// app starts the app container and waits for its first request's outcome.
func (p *pod) app(self, side string) error {
	show := "fake-app"
	if p.hookFailed {
		show = "fake-app (anyway, after a failed hook)"
	}
	c := p.startContainer("app", show, self, roleApp, "http://"+side+"/")
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		return errors.New("the fake app never finished its first request")
	}
	if _, ok := p.when("app", "started"); !ok {
		return fmt.Errorf("the fake app said nothing (exit %d)", c.cmd.ProcessState.ExitCode())
	}
	return nil
}

// verdict says, in one line, whether the app started after its sidecar.
func (p *pod) verdict() string {
	app, _ := p.when("app", "started")
	ready, ok := p.when("sidecar", "ready")
	switch {
	case !ok && p.hookFailed:
		return "the sidecar never was ready: kubelet kept podseq's line and started the app anyway\n" +
			"   (in a pod the hook shares the sidecar's container and ends with it at once, saying so)"
	case !ok:
		return "the sidecar never was ready"
	case app.Before(ready):
		return fmt.Sprintf("ORDER BROKEN: the app started %s BEFORE its sidecar was ready", round(ready.Sub(app)))
	}
	return fmt.Sprintf("in order: the app started %s after its sidecar was ready", round(app.Sub(ready)))
}

// teardown stops every container still running.
func (p *pod) teardown() {
	for _, c := range p.containers {
		stop(c)
	}
}

// stop sends SIGTERM to a container's main process, then SIGKILL after 5s.
func stop(c *container) {
	select {
	case <-c.done:
		return
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(5 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

// ports returns two free loopback addresses: podseq run's admin endpoint and
// the fake sidecar's.
func ports() (admin, side string, err error) {
	a, err := loopback.FreePort()
	if err != nil {
		return "", "", err
	}
	b, err := loopback.FreePort()
	for err == nil && b == a {
		b, err = loopback.FreePort()
	}
	if err != nil {
		return "", "", err
	}
	return fmt.Sprintf("127.0.0.1:%d", a), fmt.Sprintf("127.0.0.1:%d", b), nil
}

func round(d time.Duration) time.Duration {
	if d < time.Second {
		return d.Round(time.Millisecond)
	}
	return d.Round(10 * time.Millisecond)
}

// say prints a timeline line of a fake container.
func say(who, msg string) { fmt.Fprintf(os.Stderr, "%s%s %s\n", marker, who, msg) }

// fakeSidecar is a sidecar that loads its config for a while: ADDR READY-AFTER
// CRASH-AFTER. It serves /ready (503 until ready, then 200) and anything
// else likewise, and exits 3 after CRASH-AFTER when that is not 0.
func fakeSidecar(args []string) int {
	if len(args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: fake-sidecar ADDR READY-AFTER CRASH-AFTER")
		return 2
	}
	readyAfter, err1 := time.ParseDuration(args[1])
	crashAfter, err2 := time.ParseDuration(args[2])
	ln, err := net.Listen("tcp", args[0])
	if err := errors.Join(err1, err2, err); err != nil {
		fmt.Fprintln(os.Stderr, "fake-sidecar:", err)
		return 2
	}
	var ready atomic.Bool
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !ready.Load() {
			http.Error(w, "loading config", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	}))
	stopped := make(chan os.Signal, 1)
	signal.Notify(stopped, syscall.SIGTERM, syscall.SIGINT)
	say("sidecar", "loading its config")
	if crashAfter > 0 {
		select {
		case <-time.After(crashAfter):
			say("sidecar", "crashed before it was ready: exit 3")
			return 3
		case <-stopped:
			return 0
		}
	}
	select {
	case <-time.After(readyAfter):
	case <-stopped:
		return 0
	}
	say("sidecar", "ready") // said before it is, so that nothing it causes comes first
	ready.Store(true)
	<-stopped
	return 0
}

// fakeApp is an app whose first request goes through its sidecar: URL. It
// says how that request went, and exits.
func fakeApp(args []string) int {
	if len(args) != 1 {
		fmt.Fprintln(os.Stderr, "usage: fake-app URL")
		return 2
	}
	client := &http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get(args[0])
	outcome := ""
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		outcome = "connection refused"
	case err != nil:
		outcome = err.Error()
	default:
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
		resp.Body.Close()
		outcome = resp.Status
		if resp.StatusCode != http.StatusOK {
			outcome += " (" + strings.TrimSpace(string(body)) + ")"
		}
	}
	say("app", "started; its first request through the sidecar: "+outcome)
	return 0
}

// lineWriter calls line with each line written to it.
type lineWriter struct {
	mu   sync.Mutex
	buf  []byte
	line func(string)
}

func (w *lineWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, b...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			return len(b), nil
		}
		w.line(string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
}
