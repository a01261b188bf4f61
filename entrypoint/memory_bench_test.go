package entrypoint

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// procRSS is process pid's resident set size in bytes, from its status.
func procRSS(tb testing.TB, pid int) uint64 {
	tb.Helper()
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		tb.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	tb.Fatal("no VmRSS")
	return 0
}

// gauge reads one unlabelled gauge of the admin server at addr.
func gauge(tb testing.TB, addr, name string) float64 {
	tb.Helper()
	return value(tb, scrape(tb, "http://"+addr), name, nil)
}

// BenchmarkHeldPollsAtCap: a podseq run (a simulated sidecar, in a process
// of its own) holding long polls at its cap, side by side in one run: held
// the plain net/http way (as before: two goroutines, buffers and a timer
// each) and taken over from net/http (one small goroutine each), at the cap
// without a memory limit (MaxWaiters) and at the cap a 64 MiB limit gives
// (WaitersFor). Figures: goroutines per held poll, RSS before, at the cap,
// and 2s after every client dropped its poll.
func BenchmarkHeldPollsAtCap(b *testing.B) {
	for _, tt := range []struct {
		name  string
		plain bool
		limit int64
	}{
		{"plain/no-limit", true, 0},
		{"hijacked/no-limit", false, 0},
		{"plain/64MiB", true, 64 << 20},
		{"hijacked/64MiB", false, 64 << 20},
	} {
		b.Run(tt.name, func(b *testing.B) {
			n := WaitersFor(tt.limit)
			sup := startSupervisor(b, superviseConfig{ReadyAfter: time.Hour, PlainHold: tt.plain, MaxWaiters: n})
			addr := sup.addr()
			pid := sup.cmd.Process.Pid
			g0 := gauge(b, addr, "go_goroutines")
			r0 := procRSS(b, pid)
			conns := openPolls(b, addr, n, 60*time.Second, func() int { return int(gauge(b, addr, "podseq_ready_waiters")) })
			g1 := gauge(b, addr, "go_goroutines")
			r1 := procRSS(b, pid)
			for _, c := range conns {
				c.Close()
			}
			deadline := time.Now().Add(30 * time.Second)
			for gauge(b, addr, "podseq_ready_waiters") != 0 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			time.Sleep(2 * time.Second)
			r2 := procRSS(b, pid)
			b.ReportMetric(float64(n), "held")
			b.ReportMetric((g1-g0)/float64(n), "goroutines/held")
			b.ReportMetric(mib(r0), "rss-MiB-idle")
			b.ReportMetric(mib(r1), "rss-MiB-at-cap")
			b.ReportMetric(mib(r2), "rss-MiB-2s-after-drop")
			b.ReportMetric(0, "ns/op")
			sup.cmd.Process.Signal(syscall.SIGTERM)
		})
	}
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }
