// Command bench measures podseq wait as a process, the way kubelet runs it,
// and prints the tables of `make bench`: release overshoot and CPU against a
// reference poller with a fixed 500 ms period (what Istio's pilot-agent wait
// does), the overshoot/CPU frontier of a few schedules, push release through
// podseq run, peak RSS against hostile targets (endless headers, garbage)
// beside a normal one, the wall time of a wait on a target that is already
// ready, peak RSS and the binary's size.
//
// Every target is a server of this program on loopback. Overshoot is the
// instant the waiting process's exit is seen minus the instant the target
// turned ready.
//
//	go run ./bench -podseq ../bin/podseq [-runs 10] [-quick] [-hostile]
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/podseq/podseq/hack/internal/loopback"
	"github.com/podseq/podseq/hack/internal/sidecar"
)

func main() {
	if len(os.Args) > 2 && os.Args[1] == "-reference-poller" {
		os.Exit(referencePoller(os.Args[2]))
	}
	podseq := flag.String("podseq", "bin/podseq", "the podseq binary to measure")
	runs := flag.Int("runs", 10, "runs per cell")
	quick := flag.Bool("quick", false, "fewer delays and schedules, for a smoke run")
	hostileOnly := flag.Bool("hostile", false, "only the hostile-targets table")
	flag.Parse()
	if _, err := os.Stat(*podseq); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v (run make build first)\n", err)
		os.Exit(2)
	}
	b := &bench{podseq: *podseq, runs: *runs}
	if *hostileOnly {
		if err := b.hostile(); err != nil {
			fmt.Fprintf(os.Stderr, "bench: %v\n", err)
			os.Exit(1)
		}
		return
	}
	delays := []time.Duration{50 * time.Millisecond, 300 * time.Millisecond, time.Second, 3 * time.Second}
	periods := []string{"1ms", "5ms", "10ms", "25ms", "100ms", "500ms"}
	if *quick {
		delays = delays[:2]
		periods = []string{"5ms", "10ms", "100ms"}
	}
	if err := b.all(delays, periods); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
}

type bench struct {
	podseq string
	runs   int
}

// sample is one measured wait.
type sample struct {
	overshoot time.Duration
	cpu       time.Duration // user+sys of the waiting process
	wall      time.Duration // the waiting process's whole life
	waited    time.Duration // ready delay, the part of wall spent waiting
	maxRSSKB  int64
	requests  int64 // requests the target answered during the wait
}

func (b *bench) all(delays []time.Duration, periods []string) error {
	fmt.Printf("# podseq bench (%d runs per cell, %s)\n\n", b.runs, time.Now().UTC().Format(time.RFC3339))

	fmt.Println("## Release overshoot: podseq wait (default schedule) vs a fixed 500 ms poller")
	fmt.Println()
	fmt.Println("| target | ready after | poller | overshoot median | p90 | max | CPU while waiting (% of a core) | attempts |")
	fmt.Println("|---|---|---|---|---|---|---|---|")
	for _, kind := range []string{"http", "tcp"} {
		for _, d := range delays {
			for _, poller := range []string{"podseq", "fixed-500ms"} {
				ss, err := b.cell(kind, d, poller, nil)
				if err != nil {
					return err
				}
				printRow(kind, d, poller, ss)
			}
		}
	}

	fmt.Println()
	fmt.Println("## Frontier: overshoot vs CPU by --period (http, ready after 1 s)")
	fmt.Println()
	fmt.Println("| --period | overshoot median | p90 | CPU while waiting (% of a core) | target's requests/s |")
	fmt.Println("|---|---|---|---|---|")
	for _, p := range periods {
		ss, err := b.cell("http", time.Second, "podseq", []string{"--period", p})
		if err != nil {
			return err
		}
		o := overshoots(ss)
		fmt.Printf("| %s | %s | %s | %.2f | %.0f |\n", p, ms(pct(o, 50)), ms(pct(o, 90)), cpuPct(ss), reqRate(ss))
	}

	fmt.Println()
	fmt.Println("## Push release: podseq wait against podseq run's /ready (no polling)")
	fmt.Println()
	if err := b.push(delays); err != nil {
		fmt.Printf("push release not measured: %v\n", err)
	}

	fmt.Println()
	fmt.Println("## Hostile targets: podseq wait's memory and CPU until its deadline")
	fmt.Println()
	if err := b.hostile(); err != nil {
		return err
	}

	fmt.Println()
	fmt.Println("## Whole process")
	fmt.Println()
	if err := b.process(); err != nil {
		return err
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
func (b *bench) cell(kind string, d time.Duration, poller string, extra []string) ([]sample, error) {
	var out []sample
	for range b.runs {
		s, err := b.once(kind, d, poller, extra)
		if err != nil {
			return nil, fmt.Errorf("%s %s %s: %w", kind, d, poller, err)
		}
		out = append(out, s)
	}
	return out, nil
}

// once starts a target that turns ready after d, starts the poller, and
// measures how late the poller's process exits.
func (b *bench) once(kind string, d time.Duration, poller string, extra []string) (sample, error) {
	tgt, err := newTarget(kind)
	if err != nil {
		return sample{}, err
	}
	defer tgt.close()
	var cmd *exec.Cmd
	if poller == "podseq" {
		args := append([]string{"wait", "--timeout", "30s", "--quiet"}, extra...)
		cmd = exec.Command(b.podseq, append(args, tgt.url)...)
	} else {
		self, err := os.Executable()
		if err != nil {
			return sample{}, err
		}
		cmd = exec.Command(self, "-reference-poller", tgt.url)
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
	case "http":
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		t.ln = ln
		t.url = "http://" + ln.Addr().String() + "/ready"
		t.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			t.requests.Add(1)
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
// timeout, and a fresh TCP connect for tcp targets.
func referencePoller(target string) int {
	const period = 500 * time.Millisecond
	client := &http.Client{Timeout: 500 * time.Millisecond}
	deadline := time.After(30 * time.Second)
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

// process measures a wait on a target that is already ready, and the binary.
func (b *bench) process() error {
	tgt, err := newTarget("http")
	if err != nil {
		return err
	}
	defer tgt.close()
	tgt.ready.Store(true)
	var walls []time.Duration
	var rss int64
	for range 3 * b.runs {
		start := time.Now()
		cmd := exec.Command(b.podseq, "wait", "--quiet", tgt.url)
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("ready target: %w", err)
		}
		walls = append(walls, time.Since(start))
		rss = max(rss, cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss)
	}
	st, err := os.Stat(b.podseq)
	if err != nil {
		return err
	}
	fmt.Println("| measure | value |")
	fmt.Println("|---|---|")
	fmt.Printf("| podseq wait on a ready http target, whole process (median of %d) | %s |\n", len(walls), ms(pct(walls, 50)))
	fmt.Printf("| same, p90 | %s |\n", ms(pct(walls, 90)))
	fmt.Printf("| peak RSS of podseq wait | %.1f MB |\n", float64(rss)/1024)
	fmt.Printf("| binary %s (stripped, static) | %.2f MB (%d bytes) |\n", b.podseq, float64(st.Size())/(1<<20), st.Size())
	return nil
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
