// Command bench measures podseq wait as a process, the way kubelet runs it,
// and prints the tables of `make bench`: requests, CPU and release overshoot
// over short and long waits for podseq's default schedule, its previous one
// (a fixed 5 ms period, today `--period 5ms`) and a reference poller with a
// fixed 500 ms period (what Istio's pilot-agent wait does); a redirect loop's
// requests; the overshoot/CPU frontier of a few periods; push release through
// podseq run; peak RSS against hostile targets (endless headers, garbage)
// beside a normal one; and the whole process on a target that is already ready, next to
// a static Go hello-world and a bare net/http GET built in the same run, with
// where podseq's package initialisation goes (GODEBUG=inittrace=1).
//
// Every target is a server of this program on loopback. Overshoot is the
// instant the waiting process's exit is seen minus the instant the target
// turned ready.
//
//	go run ./bench -podseq ../bin/podseq [-runs 10] [-long-runs 3] [-quick]
package main

import (
	"bufio"
	"cmp"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/podseq/podseq/hack/internal/loopback"
	"github.com/podseq/podseq/hack/internal/sidecar"
)

func main() {
	if len(os.Args) > 3 && os.Args[1] == "-reference-poller" {
		os.Exit(referencePoller(os.Args[2], os.Args[3]))
	}
	podseq := flag.String("podseq", "bin/podseq", "the podseq binary to measure")
	runs := flag.Int("runs", 10, "runs per cell")
	longRuns := flag.Int("long-runs", 3, "rounds of the 30 s wait (its pollers run side by side)")
	quick := flag.Bool("quick", false, "fewer delays and schedules and no 30 s wait, for a smoke run")
	only := flag.String("only", "", "comma-separated sections to run (gentle, redirect, tcp, frontier, push, hostile, process); all when empty")
	flag.Parse()
	if _, err := os.Stat(*podseq); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v (run make build first)\n", err)
		os.Exit(2)
	}
	b := &bench{podseq: *podseq, runs: *runs, longRuns: *longRuns, only: map[string]bool{}}
	for _, s := range strings.Split(*only, ",") {
		if s != "" {
			b.only[s] = true
		}
	}
	waits := []time.Duration{300 * time.Millisecond, 3 * time.Second, 30 * time.Second}
	delays := []time.Duration{50 * time.Millisecond, 300 * time.Millisecond, time.Second, 3 * time.Second}
	periods := []string{"1ms", "5ms", "10ms", "25ms", "100ms", "500ms"}
	if *quick {
		waits = waits[:2]
		delays = delays[:2]
		periods = []string{"5ms", "10ms", "100ms"}
	}
	if err := b.all(waits, delays, periods); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
}

type bench struct {
	podseq   string
	runs     int
	longRuns int
	only     map[string]bool // the sections to run; all when empty
}

// wants reports whether the section name is to be run.
func (b *bench) wants(name string) bool { return len(b.only) == 0 || b.only[name] }

// poller is one way to wait: podseq wait with some flags, or the reference
// poller.
type poller struct {
	name      string
	args      []string // podseq wait's extra flags
	reference bool     // the fixed 500 ms reference poller instead of podseq
}

var (
	gentle    = poller{name: "podseq (default)"}
	previous  = poller{name: "podseq, previous default (--period 5ms)", args: []string{"--period", "5ms"}}
	reference = poller{name: "fixed 500 ms", reference: true}
)

// longWait is where a wait counts as long: its pollers run side by side, for
// fewer rounds.
const longWait = 10 * time.Second

// sample is one measured wait.
type sample struct {
	overshoot time.Duration
	cpu       time.Duration // user+sys of the waiting process
	wall      time.Duration // the waiting process's whole life
	waited    time.Duration // ready delay, the part of wall spent waiting
	maxRSSKB  int64
	requests  int64 // requests the target answered during the wait
}

func (b *bench) all(waits, delays []time.Duration, periods []string) error {
	sections := []section{
		{"gentle", "A gentler poll: requests, CPU and overshoot by wait (http target on loopback)", func() error { return b.gentle(waits) }},
		{"redirect", "Redirect loop: requests a never-ready target that redirects to itself answers over a 3 s timeout", func() error {
			return b.redirectLoop([]poller{gentle, {name: "podseq --period 5ms", args: previous.args}})
		}},
		{"tcp", "Release overshoot on a tcp target: podseq wait (default schedule) vs a fixed 500 ms poller", func() error { return b.tcp(waits[:min(2, len(waits))]) }},
		{"frontier", "Frontier: overshoot vs CPU by --period (http, ready after 1 s)", func() error { return b.frontier(periods) }},
		{"push", "Push release: podseq wait against podseq run's /ready (no polling)", func() error {
			if err := b.push(delays); err != nil {
				fmt.Printf("push release not measured: %v\n", err)
			}
			return nil
		}},
		{"hostile", "Hostile targets: podseq wait's memory and CPU until its deadline", b.hostile},
		{"process", "Whole process", b.process},
	}
	for name := range b.only {
		if !slices.ContainsFunc(sections, func(sec section) bool { return sec.name == name }) {
			return fmt.Errorf("-only %s: no such section", name)
		}
	}
	fmt.Printf("# podseq bench (%d runs per cell, %d rounds of the long waits, %s)\n", b.runs, b.longRuns, time.Now().UTC().Format(time.RFC3339))
	for _, sec := range sections {
		if !b.wants(sec.name) {
			continue
		}
		fmt.Printf("\n## %s\n\n", sec.title)
		if err := sec.run(); err != nil {
			return err
		}
	}
	return nil
}

// section is one table (or a few) of the bench.
type section struct {
	name, title string
	run         func() error
}

// gentle compares the default schedule, the previous one and the reference
// poller over each wait.
func (b *bench) gentle(waits []time.Duration) error {
	fmt.Println("Goals: overshoot median within max(5 ms, 1 % of the wait); CPU under 2 % of a core over a 3 s wait;")
	fmt.Println("a 30 s wait under 1,000 requests. Waits of 10 s or more run their three pollers side by side.")
	fmt.Println()
	fmt.Println("| ready after | poller | runs | requests | requests/s | CPU (% of a core) | overshoot median | p90 | overshoot goal |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|")
	pollers := []poller{gentle, previous, reference}
	for _, d := range waits {
		cells, err := b.cells("http", d, pollers)
		if err != nil {
			return err
		}
		for i, ss := range cells {
			o := overshoots(ss)
			fmt.Printf("| %s | %s | %d | %.0f | %.0f | %.2f | %s | %s | %s |\n", d, pollers[i].name, len(ss),
				meanRequests(ss), reqRate(ss), cpuPct(ss), ms(pct(o, 50)), ms(pct(o, 90)), ms(max(5*time.Millisecond, d/100)))
		}
	}
	return nil
}

// tcp is the release overshoot on a tcp target, whose refused connections
// the target cannot count.
func (b *bench) tcp(delays []time.Duration) error {
	fmt.Println("| target | ready after | poller | overshoot median | p90 | max | CPU while waiting (% of a core) | attempts |")
	fmt.Println("|---|---|---|---|---|---|---|---|")
	for _, d := range delays {
		for _, pl := range []poller{gentle, reference} {
			ss, err := b.cell("tcp", d, pl)
			if err != nil {
				return err
			}
			printRow("tcp", d, pl.name, ss)
		}
	}
	return nil
}

// frontier is the overshoot and CPU of a few fixed periods.
func (b *bench) frontier(periods []string) error {
	fmt.Println("| --period | overshoot median | p90 | CPU while waiting (% of a core) | target's requests/s |")
	fmt.Println("|---|---|---|---|---|")
	for _, p := range periods {
		ss, err := b.cell("http", time.Second, poller{name: p, args: []string{"--period", p}})
		if err != nil {
			return err
		}
		o := overshoots(ss)
		fmt.Printf("| %s | %s | %s | %.2f | %.0f |\n", p, ms(pct(o, 50)), ms(pct(o, 90)), cpuPct(ss), reqRate(ss))
	}
	return nil
}

func printRow(kind string, d time.Duration, poller string, ss []sample) {
	o := overshoots(ss)
	var att int64
	for _, s := range ss {
		att += s.requests
	}
	fmt.Printf("| %s | %s | %s | %s | %s | %s | %.2f | %.0f |\n", kind, d, poller,
		ms(pct(o, 50)), ms(pct(o, 90)), ms(slices.Max(o)), cpuPct(ss), float64(att)/float64(len(ss)))
}

// cell runs one poller against one kind of target that turns ready after d,
// b.runs times.
func (b *bench) cell(kind string, d time.Duration, pl poller) ([]sample, error) {
	var out []sample
	for range b.runs {
		s, err := b.once(kind, d, pl)
		if err != nil {
			return nil, fmt.Errorf("%s %s %s: %w", kind, d, pl.name, err)
		}
		out = append(out, s)
	}
	return out, nil
}

// cells runs every poller against its own target that turns ready after d:
// b.runs rounds of one poller after the other (interleaved, so that the
// machine's noise falls on each alike), or, for a long wait, b.longRuns
// rounds of all of them side by side.
func (b *bench) cells(kind string, d time.Duration, pollers []poller) ([][]sample, error) {
	out := make([][]sample, len(pollers))
	if d < longWait {
		for range b.runs {
			for i, pl := range pollers {
				s, err := b.once(kind, d, pl)
				if err != nil {
					return nil, fmt.Errorf("%s %s %s: %w", kind, d, pl.name, err)
				}
				out[i] = append(out[i], s)
			}
		}
		return out, nil
	}
	for range b.longRuns {
		var wg sync.WaitGroup
		round := make([]sample, len(pollers))
		errs := make([]error, len(pollers))
		for i, pl := range pollers {
			wg.Go(func() { round[i], errs[i] = b.once(kind, d, pl) })
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return nil, fmt.Errorf("%s %s: %w", kind, d, err)
		}
		for i := range pollers {
			out[i] = append(out[i], round[i])
		}
	}
	return out, nil
}

// once starts a target that turns ready after d, starts the poller, and
// measures how late the poller's process exits.
func (b *bench) once(kind string, d time.Duration, pl poller) (sample, error) {
	tgt, err := newTarget(kind)
	if err != nil {
		return sample{}, err
	}
	defer tgt.close()
	timeout := max(30*time.Second, 2*d)
	cmd, err := b.command(pl, timeout, tgt.url)
	if err != nil {
		return sample{}, err
	}
	cmd.Stderr = os.Stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return sample{}, err
	}
	readyAt := tgt.readyAfter(start, d)
	err = cmd.Wait()
	end := time.Now()
	if err != nil {
		return sample{}, fmt.Errorf("poller: %w", err)
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	return sample{
		overshoot: end.Sub(<-readyAt),
		cpu:       cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(),
		wall:      end.Sub(start),
		waited:    d,
		maxRSSKB:  ru.Maxrss,
		requests:  tgt.requests.Load(),
	}, nil
}

// command is the poller's process waiting for url at most timeout.
func (b *bench) command(pl poller, timeout time.Duration, url string) (*exec.Cmd, error) {
	if pl.reference {
		self, err := os.Executable()
		if err != nil {
			return nil, err
		}
		return exec.Command(self, "-reference-poller", url, timeout.String()), nil
	}
	args := append([]string{"wait", "--timeout", timeout.String(), "--quiet"}, pl.args...)
	return exec.Command(b.podseq, append(args, url)...), nil
}

// redirectLoop counts the requests a target that redirects to itself
// answers while podseq waits for it until a 3 s timeout.
func (b *bench) redirectLoop(pollers []poller) error {
	const timeout = 3 * time.Second
	fmt.Println("| poller | runs | requests | requests/s | CPU (% of a core) |")
	fmt.Println("|---|---|---|---|---|")
	for _, pl := range pollers {
		var ss []sample
		for range max(b.runs/5, 1) {
			tgt, err := newTarget("redirect")
			if err != nil {
				return err
			}
			cmd, err := b.command(pl, timeout, tgt.url)
			if err != nil {
				tgt.close()
				return err
			}
			start := time.Now()
			err = cmd.Run()
			wall := time.Since(start)
			tgt.close()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 1 {
				return fmt.Errorf("redirect loop, %s: %v, want exit 1 (not ready)", pl.name, err)
			}
			ss = append(ss, sample{
				cpu:      cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(),
				wall:     wall,
				waited:   timeout,
				requests: tgt.requests.Load(),
			})
		}
		fmt.Printf("| %s | %d | %.0f | %.0f | %.2f |\n", pl.name, len(ss), meanRequests(ss), reqRate(ss), cpuPct(ss))
	}
	return nil
}

// target is a loopback server that turns ready on cue.
type target struct {
	kind     string
	url      string
	ready    atomic.Bool
	requests atomic.Int64
	srv      *http.Server
	ln       net.Listener
	addr     string
	closed   chan struct{}
}

func newTarget(kind string) (*target, error) {
	t := &target{kind: kind, closed: make(chan struct{})}
	switch kind {
	case "http", "redirect":
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		t.ln = ln
		t.url = "http://" + ln.Addr().String() + "/ready"
		t.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			t.requests.Add(1)
			if kind == "redirect" {
				http.Redirect(w, r, r.URL.Path, http.StatusFound)
				return
			}
			if t.ready.Load() {
				w.WriteHeader(http.StatusOK)
				return
			}
			w.WriteHeader(http.StatusServiceUnavailable)
		})}
		go t.srv.Serve(ln)
	case "tcp":
		// Reserve a free port, and listen on it only when ready: a listening
		// socket accepts connections even before anyone calls Accept.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		t.addr = ln.Addr().String()
		ln.Close()
		t.url = "tcp://" + t.addr
	default:
		return nil, fmt.Errorf("unknown target kind %q", kind)
	}
	return t, nil
}

// readyAfter makes the target ready d after start and sends the instant it
// did.
func (t *target) readyAfter(start time.Time, d time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	go func() {
		time.Sleep(time.Until(start.Add(d)))
		switch t.kind {
		case "http":
			t.ready.Store(true)
			ch <- time.Now()
		case "tcp":
			ln, err := net.Listen("tcp", t.addr)
			now := time.Now()
			if err != nil {
				fmt.Fprintf(os.Stderr, "bench: tcp target: %v\n", err)
				ch <- now
				return
			}
			t.ln = ln
			ch <- now
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				t.requests.Add(1)
				c.Close()
			}
		}
	}()
	return ch
}

func (t *target) close() {
	if t.srv != nil {
		t.srv.Close()
	}
	if t.ln != nil {
		t.ln.Close()
	}
}

// referencePoller is the baseline: what Istio's pilot-agent wait does, a
// check every 500 ms (the first one after 500 ms) with a 500 ms request
// timeout, and a fresh TCP connect for tcp targets, until timeout.
func referencePoller(target, timeout string) int {
	const period = 500 * time.Millisecond
	d, err := time.ParseDuration(timeout)
	if err != nil {
		fmt.Fprintf(os.Stderr, "reference poller: %v\n", err)
		return 2
	}
	client := &http.Client{Timeout: 500 * time.Millisecond}
	deadline := time.After(d)
	for {
		select {
		case <-deadline:
			return 1
		case <-time.After(period):
		}
		if addr, ok := strings.CutPrefix(target, "tcp://"); ok {
			if c, err := net.DialTimeout("tcp", addr, period); err == nil {
				c.Close()
				return 0
			}
			continue
		}
		resp, err := client.Get(target)
		if err != nil {
			continue
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return 0
		}
	}
}

// push measures podseq wait against podseq run --ready-after: the instant
// podseq run turned ready comes from its JSON log line.
func (b *bench) push(delays []time.Duration) error {
	fmt.Println("| ready after | overshoot median | p90 | max | CPU while waiting (% of a core) | requests |")
	fmt.Println("|---|---|---|---|---|---|")
	for _, d := range delays {
		var ss []sample
		for range b.runs {
			s, err := b.pushOnce(d)
			if err != nil {
				return err
			}
			ss = append(ss, s)
		}
		o := overshoots(ss)
		var req int64
		for _, s := range ss {
			req += s.requests
		}
		fmt.Printf("| %s | %s | %s | %s | %.2f | %.1f |\n", d, ms(pct(o, 50)), ms(pct(o, 90)), ms(slices.Max(o)), cpuPct(ss), float64(req)/float64(len(ss)))
	}
	return nil
}

func (b *bench) pushOnce(d time.Duration) (sample, error) {
	port, err := loopback.FreePort()
	if err != nil {
		return sample{}, err
	}
	listen := "127.0.0.1:" + strconv.Itoa(port)
	side, err := sidecar.Start(b.podseq, d, listen)
	if err != nil {
		return sample{}, err
	}
	defer side.Stop()
	readyAt := side.Ready
	url := "http://" + listen + "/ready"
	// The sidecar needs a moment to listen: podseq wait's polling covers
	// that, and from the first answer on it holds one long poll.
	start := time.Now()
	wait := exec.Command(b.podseq, "wait", "--timeout", "30s", "--quiet", url)
	wait.Stderr = os.Stderr
	if err := wait.Run(); err != nil {
		return sample{}, fmt.Errorf("push: podseq wait: %w", err)
	}
	end := time.Now()
	var ready time.Time
	select {
	case r, ok := <-readyAt:
		if !ok {
			return sample{}, errors.New("push: podseq run never logged ready")
		}
		ready = r
	case <-time.After(5 * time.Second):
		return sample{}, errors.New("push: podseq run's ready line did not come")
	}
	polls, err := scrapeLongPolls("http://" + listen + "/metrics")
	if err != nil {
		return sample{}, err
	}
	return sample{
		overshoot: end.Sub(ready),
		cpu:       wait.ProcessState.UserTime() + wait.ProcessState.SystemTime(),
		wall:      end.Sub(start),
		waited:    d,
		requests:  polls,
	}, nil
}

// scrapeLongPolls reads how many /ready requests podseq run answered.
func scrapeLongPolls(url string) (int64, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	var n float64
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "podseq_ready_requests_total") {
			f := strings.Fields(line)
			v, _ := strconv.ParseFloat(f[len(f)-1], 64)
			n += v
		}
	}
	return int64(n), sc.Err()
}

// process measures a wait on a target that is already ready, next to a
// static Go hello-world and a bare net/http GET built in the same run, all
// interleaved so that the machine's noise falls on each alike; then where
// podseq's package initialisation goes, and the binary.
func (b *bench) process() error {
	tgt, err := newTarget("http")
	if err != nil {
		return err
	}
	defer tgt.close()
	tgt.ready.Store(true)
	dir, err := os.MkdirTemp("", "podseq-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	hello, err := buildRef(dir, "hello")
	if err != nil {
		return err
	}
	get, err := buildRef(dir, "httpget")
	if err != nil {
		return err
	}
	procs := []struct {
		name string
		argv []string
	}{
		{"static Go hello-world (hack/bench/ref/hello)", []string{hello}},
		{"bare net/http GET of the ready target (hack/bench/ref/httpget)", []string{get, tgt.url}},
		{"podseq --version (start-up and package initialisation only)", []string{b.podseq, "--version"}},
		{"podseq wait on the ready http target", []string{b.podseq, "wait", "--quiet", tgt.url}},
	}
	walls := make([][]time.Duration, len(procs))
	var rss int64
	n := 5 * b.runs
	for range n {
		for i, p := range procs {
			cmd := exec.Command(p.argv[0], p.argv[1:]...)
			start := time.Now()
			if err := cmd.Run(); err != nil {
				return fmt.Errorf("%s: %w", p.name, err)
			}
			walls[i] = append(walls[i], time.Since(start))
			if i == len(procs)-1 {
				rss = max(rss, cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss)
			}
		}
	}
	st, err := os.Stat(b.podseq)
	if err != nil {
		return err
	}
	helloMedian := pct(walls[0], 50)
	fmt.Printf("Fork to exit, %d runs each, interleaved. Goal: podseq wait within 1.2x the hello-world.\n\n", n)
	fmt.Println("| process | median | p90 | median / hello-world |")
	fmt.Println("|---|---|---|---|")
	for i, p := range procs {
		fmt.Printf("| %s | %s | %s | %.2fx |\n", p.name, ms(pct(walls[i], 50)), ms(pct(walls[i], 90)),
			float64(pct(walls[i], 50))/float64(helloMedian))
	}
	fmt.Println()
	if err := b.initTrace(); err != nil {
		fmt.Printf("package initialisation not measured: %v\n", err)
	}
	fmt.Println()
	fmt.Println("| measure | value |")
	fmt.Println("|---|---|")
	fmt.Printf("| peak RSS of podseq wait on a ready target | %.1f MB |\n", float64(rss)/1024)
	fmt.Printf("| binary %s (stripped, static) | %.2f MB (%d bytes) |\n", b.podseq, float64(st.Size())/(1<<20), st.Size())
	return nil
}

// buildRef builds the reference program hack/bench/ref/NAME as podseq is
// built (static, stripped) into dir.
func buildRef(dir, name string) (string, error) {
	out := filepath.Join(dir, name)
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -buildid=", "-o", out, "./bench/ref/"+name)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building %s: %w", name, err)
	}
	return out, nil
}

// initTrace runs podseq --version with GODEBUG=inittrace=1 a few times and
// prints the median initialisation time of the packages that cost the most,
// grouped by module.
func (b *bench) initTrace() error {
	const rounds = 15
	byPkg := map[string][]float64{}
	var totals []float64
	for range rounds {
		cmd := exec.Command(b.podseq, "--version")
		cmd.Env = append(os.Environ(), "GODEBUG=inittrace=1")
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			return err
		}
		total := 0.0
		seen := map[string]float64{}
		for _, line := range strings.Split(stderr.String(), "\n") {
			// init PKG @T ms, C ms clock, B bytes, A allocs
			f := strings.Fields(line)
			if len(f) < 7 || f[0] != "init" || f[6] != "clock," {
				continue
			}
			c, err := strconv.ParseFloat(f[4], 64)
			if err != nil {
				continue
			}
			seen[initGroup(f[1])] += c
			total += c
		}
		for g, c := range seen {
			byPkg[g] = append(byPkg[g], c)
		}
		totals = append(totals, total)
	}
	type row struct {
		group string
		ms    float64
	}
	var rows []row
	for g, cs := range byPkg {
		rows = append(rows, row{g, median(cs)})
	}
	slices.SortFunc(rows, func(a, b row) int { return cmp.Compare(b.ms, a.ms) })
	fmt.Printf("Package initialisation of podseq (GODEBUG=inittrace=1, podseq --version, median of %d): %.2f ms in all.\n\n", rounds, median(totals))
	fmt.Println("| packages | init clock |")
	fmt.Println("|---|---|")
	for _, r := range rows[:min(len(rows), 8)] {
		fmt.Printf("| %s | %.3f ms |\n", r.group, r.ms)
	}
	return nil
}

// initGroup names the module a package belongs to, or "standard library".
func initGroup(pkg string) string {
	for _, m := range []string{
		"github.com/prometheus/client_golang", "github.com/prometheus/procfs", "github.com/prometheus/common",
		"github.com/prometheus/client_model", "google.golang.org/protobuf", "google.golang.org/grpc",
		"golang.org/x/net", "github.com/urfave/cli", "github.com/podseq/podseq",
	} {
		if strings.HasPrefix(pkg, m) {
			return m
		}
	}
	if pkg == "runtime" || !strings.Contains(strings.Split(pkg, "/")[0], ".") {
		return "standard library (runtime included)"
	}
	return "other modules"
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

func overshoots(ss []sample) []time.Duration {
	o := make([]time.Duration, len(ss))
	for i, s := range ss {
		o[i] = s.overshoot
	}
	return o
}

// cpuPct is the CPU the waiting processes used per second of waiting, in
// percent of one core, over all samples.
func cpuPct(ss []sample) float64 {
	var cpu, wall time.Duration
	for _, s := range ss {
		cpu += s.cpu
		wall += s.wall
	}
	if wall == 0 {
		return 0
	}
	return 100 * cpu.Seconds() / wall.Seconds()
}

// meanRequests is the requests a target answered per run.
func meanRequests(ss []sample) float64 {
	var n int64
	for _, s := range ss {
		n += s.requests
	}
	return float64(n) / float64(len(ss))
}

// reqRate is the requests a target answered per second of waiting.
func reqRate(ss []sample) float64 {
	var n int64
	var wall time.Duration
	for _, s := range ss {
		n += s.requests
		wall += s.waited
	}
	return float64(n) / wall.Seconds()
}

// pct is the p-th percentile (nearest rank).
func pct(d []time.Duration, p int) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	i := (p*len(s) + 99) / 100
	return s[max(min(i, len(s))-1, 0)]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }
