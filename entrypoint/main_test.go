package entrypoint

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"go.uber.org/goleak"

	"github.com/podseq/podseq/internal/testio"
	"github.com/podseq/podseq/internal/testnet"
	"github.com/podseq/podseq/probes"
)

// The test binary re-executes itself as the processes the tests need: a
// supervisor (podseq run in a process of its own, so that its wait4(-1) reaps
// only its own children) and the children it supervises.
const helperEnv = "PODSEQ_TEST_HELPER"

// superviseEnv carries a supervisor helper's configuration, as JSON.
const superviseEnv = "PODSEQ_TEST_SUPERVISE"

func TestMain(m *testing.M) {
	if h := os.Getenv(helperEnv); h != "" {
		os.Exit(runHelper(h, os.Args[1:]))
	}
	goleak.VerifyTestMain(m)
}

func runHelper(name string, args []string) int {
	switch name {
	case "exit": // exit N
		n, _ := strconv.Atoi(args[0])
		return n
	case "die": // die of signal N, with the kernel's default action
		n, _ := strconv.Atoi(args[0])
		dieOf(syscall.Signal(n))
		return 99
	case "linger": // linger D N: sleep D, then exit N
		d, _ := time.ParseDuration(args[0])
		n, _ := strconv.Atoi(args[1])
		time.Sleep(d)
		return n
	case "sleep": // sleep until killed, with Go's default signal handling
		time.Sleep(time.Hour)
		return 98
	case "trap": // trap LABEL EXIT-SIGNALS: report every signal on stdout
		return trap(args[0], args[1], "", nil)
	case "trap-marked": // trap-marked FILE LABEL EXIT-SIGNALS: trap, and create FILE once the handlers are in place
		return trap(args[1], args[2], args[0], nil)
	case "family": // a trap that has a trap of its own as a child
		return family(args[0])
	case "orphan": // leave a grandchild to podseq and check it is adopted and reaped
		return orphan()
	case "adoptee-starter": // start the adoptee and exit without waiting for it
		return adopteeStarter()
	case "adoptee": // the orphaned grandchild
		return adoptee(args[0], args[1])
	case "sigstate": // print SigBlk and SigIgn
		return sigstate()
	case "supervise":
		return supervise()
	case "envfile": // envfile FILE KEY: write the value of KEY to FILE
		if err := os.WriteFile(args[0], []byte(os.Getenv(args[1])), 0o644); err != nil {
			return 96
		}
		return 0
	case "write": // write FILE TEXT
		if err := os.WriteFile(args[0], []byte(args[1]), 0o644); err != nil {
			return 96
		}
		return 0
	case "step-writer": // step-writer GRAVEYARD NAME: hold NAME's tombstone, born, until killed
		return stepWriter(args[0], args[1])
	case "server": // server DELAY ADDR: serve /ready 200 after DELAY until SIGTERM
		return testnet.ServeAfter(args[0], args[1])
	}
	fmt.Fprintf(os.Stderr, "unknown helper %q\n", name)
	return 97
}

// dieOf restores sig's default action, which the Go runtime replaced, and
// raises it.
func dieOf(sig syscall.Signal) {
	var act [4]uint64 // struct sigaction, all zero: SIG_DFL, no flags, no mask
	syscall.RawSyscall6(syscall.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(&act)), 0, 8, 0, 0)
	_ = syscall.Kill(os.Getpid(), sig)
	time.Sleep(5 * time.Second)
}

var signalsByName = map[string]syscall.Signal{
	"HUP": syscall.SIGHUP, "INT": syscall.SIGINT, "QUIT": syscall.SIGQUIT, "USR1": syscall.SIGUSR1,
	"USR2": syscall.SIGUSR2, "TERM": syscall.SIGTERM, "WINCH": syscall.SIGWINCH, "ALRM": syscall.SIGALRM,
	"CHLD": syscall.SIGCHLD,
}

// trap prints "LABEL ready" then "LABEL got SIGNAME" for each signal, and
// exits 0 on one of exitOn (comma-separated names; "none" for none). Once
// its handlers are in place it creates the file marker, unless marker is "".
// onExit runs before it exits.
func trap(label, exitOn, marker string, onExit func()) int {
	ch := make(chan os.Signal, 16)
	for _, s := range signalsByName {
		signal.Notify(ch, s)
	}
	fmt.Printf("%s ready pid=%d\n", label, os.Getpid())
	if marker != "" {
		if err := os.WriteFile(marker, nil, 0o600); err != nil {
			fmt.Println(err)
			return 95
		}
	}
	for s := range ch {
		name := SignalName(s.(syscall.Signal))
		fmt.Printf("%s got %s\n", label, name)
		if strings.Contains(","+exitOn+",", ","+strings.TrimPrefix(name, "SIG")+",") {
			if onExit != nil {
				onExit()
			}
			return 0
		}
	}
	return 0
}

// family starts a grandchild trap, then traps like it; on exit it kills and
// waits for the grandchild.
func family(exitOn string) int {
	gc := exec.Command(os.Args[0], "grandchild", exitOn)
	gc.Env = append(os.Environ(), helperEnv+"=trap")
	gc.Stdout = os.Stdout
	if err := gc.Start(); err != nil {
		fmt.Println("child cannot start its grandchild:", err)
		return 96
	}
	return trap("child", exitOn, "", func() {
		_ = gc.Process.Kill()
		_ = gc.Wait()
	})
}

// orphan starts an intermediate process that starts the adoptee and exits at
// once, orphaning it. The adoptee writes its new parent's pid to a file. The
// orphan then checks that the new parent is its own (podseq) and that the
// adoptee, which exits at once, does not stay a zombie: only its parent can
// reap it. Exit codes: 0 adopted and reaped, 3 adopted by someone else, 4 a
// zombie for 5s.
func orphan() int {
	dir, err := os.MkdirTemp("", "podseq-orphan")
	if err != nil {
		return 95
	}
	defer os.RemoveAll(dir)
	file := dir + "/ppid"
	mid := exec.Command(os.Args[0], file)
	mid.Env = append(os.Environ(), helperEnv+"=adoptee-starter")
	out, err := mid.Output()
	if err != nil {
		fmt.Println("intermediate failed:", err)
		return 93
	}
	gpid, _ := strconv.Atoi(strings.TrimSpace(string(out)))
	deadline := time.Now().Add(5 * time.Second)
	var ppid int
	for ppid == 0 && time.Now().Before(deadline) {
		b, err := os.ReadFile(file)
		if err == nil && strings.HasSuffix(string(b), "\n") {
			ppid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		}
		time.Sleep(2 * time.Millisecond)
	}
	if ppid != os.Getppid() {
		fmt.Printf("adoptee %d adopted by %d, not by my parent %d\n", gpid, ppid, os.Getppid())
		return 3
	}
	for time.Now().Before(deadline) {
		// Signal 0 finds a zombie but not a reaped process; unlike /proc,
		// it works in a PID namespace.
		if err := syscall.Kill(gpid, 0); errors.Is(err, syscall.ESRCH) {
			fmt.Printf("adoptee %d adopted by %d and reaped\n", gpid, ppid)
			return 0
		}
		time.Sleep(2 * time.Millisecond)
	}
	fmt.Printf("adoptee %d is still a zombie of %d\n", gpid, ppid)
	return 4
}

// adopteeStarter starts the adoptee, prints its pid and exits without
// waiting for it.
func adopteeStarter() int {
	a := exec.Command(os.Args[0], strconv.Itoa(os.Getpid()), os.Args[1])
	a.Env = append(os.Environ(), helperEnv+"=adoptee")
	if err := a.Start(); err != nil {
		return 91
	}
	fmt.Println(a.Process.Pid)
	return 0
}

// adoptee waits until its parent (pid parent) is gone, writes its new
// parent's pid to file, and exits.
func adoptee(parent, file string) int {
	p, _ := strconv.Atoi(parent)
	deadline := time.Now().Add(5 * time.Second)
	for os.Getppid() == p && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	tmp := file + ".tmp"
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(os.Getppid())+"\n"), 0o600); err != nil {
		return 92
	}
	if err := os.Rename(tmp, file); err != nil {
		return 92
	}
	return 0
}

// sigstate prints the blocked and ignored signal masks.
func sigstate() int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 90
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "SigBlk:") || strings.HasPrefix(l, "SigIgn:") {
			fmt.Println(strings.Join(strings.Fields(l), " "))
		}
	}
	return 0
}

// superviseConfig is the supervisor helper's configuration.
type superviseConfig struct {
	Command     []string
	ReadyAfter  time.Duration
	Ready       []string
	Grace       time.Duration
	SignalGroup bool
	StopSignal  int
	MaxWaiters  int
	// PlainHold holds long polls the plain net/http way, for comparisons.
	PlainHold bool
}

// supervise runs Run as podseq run does, logging JSON to stderr.
func supervise() int {
	var sc superviseConfig
	if err := json.Unmarshal([]byte(os.Getenv(superviseEnv)), &sc); err != nil {
		fmt.Fprintln(os.Stderr, "bad config:", err)
		return 89
	}
	os.Unsetenv(helperEnv)
	os.Unsetenv(superviseEnv)
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	log.Info("supervisor", "pid", os.Getpid())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "podseq run: admin server:", err)
		return ExitUsage
	}
	cfg := Config{
		Command: sc.Command, ReadyAfter: sc.ReadyAfter, Listener: ln, Grace: sc.Grace,
		SignalGroup: sc.SignalGroup, StopSignal: syscall.Signal(sc.StopSignal), Logger: log,
		MaxWaiters: sc.MaxWaiters,
	}
	for _, r := range sc.Ready {
		t, err := probes.Parse(r, probes.Options{})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 88
		}
		cfg.Ready = append(cfg.Ready, t)
	}
	s, err := New(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "podseq run:", err)
		return ExitUsage
	}
	if sc.PlainHold {
		s.srv.Handler = plainHold(s.srv.Handler)
	}
	code, err := s.Run(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, "podseq run:", err)
	}
	return code
}

// helperCmd is the argv of the test binary run as helper name.
func helperCmd(name string, args ...string) []string {
	return append([]string{"/usr/bin/env", helperEnv + "=" + name, os.Args[0]}, args...)
}

// supervisor is a podseq run in a process of its own.
type supervisor struct {
	t      testing.TB
	cmd    *exec.Cmd
	lines  chan string    // the children's stdout, line by line
	seen   []string       // the lines expect read
	log    *testio.Buffer // the supervisor's JSON log
	exited chan struct{}
	code   int
}

// startSupervisor starts a supervisor helper; its stdout is the children's.
func startSupervisor(t testing.TB, sc superviseConfig, modify ...func(*exec.Cmd)) *supervisor {
	t.Helper()
	b, err := json.Marshal(sc)
	if err != nil {
		t.Fatal(err)
	}
	s := &supervisor{t: t, lines: make(chan string, 1024), log: &testio.Buffer{}, exited: make(chan struct{})}
	s.cmd = exec.Command(os.Args[0])
	s.cmd.Env = append(os.Environ(), helperEnv+"=supervise", superviseEnv+"="+string(b))
	s.cmd.Stdout = &testio.LineWriter{Line: func(l string) { s.lines <- l }}
	s.cmd.Stderr = s.log
	s.cmd.WaitDelay = 5 * time.Second
	for _, f := range modify {
		f(s.cmd)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(s.exited)
		err := s.cmd.Wait()
		s.code = s.cmd.ProcessState.ExitCode()
		if err != nil && s.code < 0 {
			s.code = -1
		}
	}()
	t.Cleanup(func() {
		select {
		case <-s.exited:
		default:
			_ = s.cmd.Process.Kill()
			<-s.exited
		}
		if t.Failed() {
			t.Logf("supervisor log:\n%s", s.log.String())
		}
	})
	return s
}

// expect reads the children's output until a line containing want.
func (s *supervisor) expect(want string) string {
	s.t.Helper()
	return s.expectFunc(want, func(l string) bool { return strings.Contains(l, want) })
}

// expectPrefix reads the children's output until a line that starts with want.
func (s *supervisor) expectPrefix(want string) string {
	s.t.Helper()
	return s.expectFunc(want, func(l string) bool { return strings.HasPrefix(l, want) })
}

func (s *supervisor) expectFunc(want string, match func(string) bool) string {
	s.t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case l := <-s.lines:
			s.seen = append(s.seen, l)
			if match(l) {
				return l
			}
		case <-timeout:
			s.t.Fatalf("no line with %q in 20s", want)
			return ""
		}
	}
}

// rest returns every output line so far: those expect read, and the others.
func (s *supervisor) rest() []string {
	out := s.seen
	for {
		select {
		case l := <-s.lines:
			out = append(out, l)
		default:
			return out
		}
	}
}

// signal sends sig to the supervisor.
func (s *supervisor) signal(sig syscall.Signal) {
	s.t.Helper()
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.t.Fatalf("signal %s: %v", SignalName(sig), err)
	}
}

// wait waits for the supervisor's exit code.
func (s *supervisor) wait() int {
	s.t.Helper()
	select {
	case <-s.exited:
		return s.code
	case <-time.After(30 * time.Second):
		s.t.Fatal("supervisor still running after 30s")
		return -1
	}
}

// addr waits for the admin server's address in the log.
func (s *supervisor) addr() string {
	s.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		for _, l := range strings.Split(s.log.String(), "\n") {
			var rec struct{ Msg, Addr string }
			if json.Unmarshal([]byte(l), &rec) == nil && rec.Msg == "listening" {
				return rec.Addr
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	s.t.Fatal("no listening line in 20s")
	return ""
}

// plainHold hides http.Hijacker from h's ResponseWriters: every long poll is
// held the plain net/http way, as an HTTP/2 one is, for comparisons.
func plainHold(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(struct{ http.ResponseWriter }{w}, r)
	})
}
