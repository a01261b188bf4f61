package entrypoint

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	rtmetrics "runtime/metrics"
	"strings"
	"testing"
	"time"
)

// cgroupTree writes a fake /proc/self/cgroup and cgroup files under a
// temporary root: files maps a path under root to its content.
func cgroupTree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, content := range files {
		p = filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestContainerMemoryLimit(t *testing.T) {
	t.Parallel()
	const v1Host = "12:memory:/kubepods/pod1/c1\n11:cpu,cpuacct:/kubepods/pod1/c1\n0::/\n"
	for _, tt := range []struct {
		name  string
		files map[string]string
		want  int64
	}{
		{"v2, own cgroup at the mount's root (cgroup namespace)", map[string]string{
			"proc/self/cgroup": "0::/\n", "sys/fs/cgroup/memory.max": "67108864\n"}, 64 << 20},
		{"v2, cgroup path under the mount", map[string]string{
			"proc/self/cgroup": "0::/kubepods/pod1/c1\n", "sys/fs/cgroup/kubepods/pod1/c1/memory.max": "134217728\n"}, 128 << 20},
		{"v2, no limit", map[string]string{
			"proc/self/cgroup": "0::/\n", "sys/fs/cgroup/memory.max": "max\n"}, 0},
		{"v1, cgroup path under the mount", map[string]string{
			"proc/self/cgroup": v1Host, "sys/fs/cgroup/memory/kubepods/pod1/c1/memory.limit_in_bytes": "67108864\n"}, 64 << 20},
		{"v1, own cgroup at the mount's root", map[string]string{
			"proc/self/cgroup": v1Host, "sys/fs/cgroup/memory/memory.limit_in_bytes": "33554432\n"}, 32 << 20},
		{"v1, no limit (a page-rounded huge number)", map[string]string{
			"proc/self/cgroup": v1Host, "sys/fs/cgroup/memory/memory.limit_in_bytes": "9223372036854771712\n"}, 0},
		{"garbage in the file", map[string]string{
			"proc/self/cgroup": "0::/\n", "sys/fs/cgroup/memory.max": "lots\n"}, 0},
		{"no cgroup file", map[string]string{}, 0},
		{"no memory controller", map[string]string{"proc/self/cgroup": "3:cpu:/x\n"}, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := containerMemoryLimit(cgroupTree(t, tt.files)); got != tt.want {
				t.Errorf("containerMemoryLimit = %d, want %d", got, tt.want)
			}
		})
	}
	// This machine's own: whatever it is, a number and no failure.
	if got := containerMemoryLimit("/"); got < 0 {
		t.Errorf("containerMemoryLimit(/) = %d", got)
	}
}

func TestWaitersFor(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		limit int64
		want  int
	}{
		{0, MaxWaiters},
		{64 << 20, 1024},
		{256 << 20, MaxWaiters},
		{1 << 40, MaxWaiters},
		{16 << 20, 256},
		{1 << 20, MinWaiters},
		{1, MinWaiters},
	} {
		if got := WaitersFor(tt.limit); got != tt.want {
			t.Errorf("WaitersFor(%d) = %d, want %d", tt.limit, got, tt.want)
		}
	}
}

// TestFitMemory: a container's limit becomes the Go runtime's soft limit
// (90% of it), unless GOMEMLIMIT says otherwise, and sets the cap.
func TestFitMemory(t *testing.T) {
	// Not parallel: the soft limit is the process's. A large one, so that
	// no other test's collections change while it is set.
	prev := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(prev)
	root := cgroupTree(t, map[string]string{"proc/self/cgroup": "0::/\n", "sys/fs/cgroup/memory.max": fmt.Sprint(int64(64 << 30))})
	fit := fitMemory(root, func(string) string { return "" })
	if fit.Limit != 64<<30 || fit.SoftLimit != (64<<30)/10*9 || fit.MaxWaiters != MaxWaiters {
		t.Errorf("fit %+v", fit)
	}
	if got := debug.SetMemoryLimit(-1); got != fit.SoftLimit {
		t.Errorf("soft memory limit %d, want %d", got, fit.SoftLimit)
	}
	debug.SetMemoryLimit(prev)
	fit = fitMemory(root, func(k string) string {
		if k == "GOMEMLIMIT" {
			return "1GiB"
		}
		return ""
	})
	if fit.SoftLimit != 0 || debug.SetMemoryLimit(-1) != prev {
		t.Errorf("with GOMEMLIMIT: fit %+v, soft limit changed", fit)
	}
}

// holdPolls opens n long polls on r's admin server, each on a connection of
// its own, and returns them once all are held.
func holdPolls(t *testing.T, r *running, n int) []net.Conn {
	t.Helper()
	return openPolls(t, strings.TrimPrefix(r.url, "http://"), n, 20*time.Second, func() int { return int(r.s.state.waiters.Load()) })
}

// openPolls opens n long polls on the admin server at addr, each on a
// connection of its own, and returns the connections once waiting() says
// all are held, failing after limit. They are closed when tb ends.
func openPolls(tb testing.TB, addr string, n int, limit time.Duration, waiting func() int) []net.Conn {
	tb.Helper()
	req := []byte("GET /ready?wait=5m HTTP/1.1\r\nHost: " + addr + "\r\n\r\n")
	conns := make([]net.Conn, 0, n)
	tb.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			tb.Fatal(err)
		}
		conns = append(conns, c)
		if _, err := c.Write(req); err != nil {
			tb.Fatal(err)
		}
	}
	deadline := time.Now().Add(limit)
	for got := waiting(); got != n; got = waiting() {
		if time.Now().After(deadline) {
			tb.Fatalf("%d long polls held, want %d", got, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return conns
}

// TestHeldPollsCostOneGoroutineEach: a held long poll costs one goroutine,
// not net/http's two; the cap is Config.MaxWaiters; a release reaches every
// held poll, also a HEAD one, as a well-formed answer.
func TestHeldPollsCostOneGoroutineEach(t *testing.T) {
	const n = 200
	stop := make(chan string)
	r := startRun(t, t.Context(), Config{ReadyAfter: time.Hour, Stop: stop, MaxWaiters: n + 1})
	r.next(Born)
	time.Sleep(100 * time.Millisecond) // let start-up goroutines settle
	g0 := runtime.NumGoroutine()
	conns := holdPolls(t, r, n)
	// A poll is counted as held while the goroutine that handed it over may
	// still be on its way out (on a busy machine, a few of them): let those
	// finish, as before g0, then count.
	g := runtime.NumGoroutine() - g0
	for settle := time.Now().Add(2 * time.Second); g > n+n/10 && time.Now().Before(settle); g = runtime.NumGoroutine() - g0 {
		time.Sleep(10 * time.Millisecond)
	}
	if g > n+n/10 {
		t.Errorf("%d goroutines for %d held long polls, want about one each", g, n)
	}
	// One more fits (a HEAD); the next is over the cap.
	headDone := make(chan *http.Response, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodHead, r.url+"/ready?wait=5m", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Errorf("HEAD long poll: %v", err)
		}
		headDone <- resp
	}()
	deadline := time.Now().Add(20 * time.Second)
	for r.s.state.waiters.Load() != n+1 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if code, body := get(t, r.url+"/ready?wait=5m"); code != 503 || !strings.Contains(body, "too many long polls") {
		t.Errorf("over the cap: %d %q", code, body)
	}
	r.s.turnReady(os.Getpid())
	r.next(Ready)
	if resp := <-headDone; resp != nil {
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.ContentLength != int64(len(readyBody)) || resp.Header.Get("Podseq-Hold") == "" {
			t.Errorf("HEAD released: %s, length %d, header %v", resp.Status, resp.ContentLength, resp.Header)
		}
	}
	for i, c := range conns {
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("long poll %d: %v", i, err)
		}
		body := make([]byte, 16)
		m, _ := resp.Body.Read(body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body[:m]) != "ready\n" || !resp.Close {
			t.Fatalf("long poll %d released: %s %q, close %v", i, resp.Status, body[:m], resp.Close)
		}
	}
	stop <- "test over"
	r.next(NotReady)
	r.next(Died)
}

// TestBurstReturnsMemory: once a burst of held long polls has drained, the
// runtime is made to give its memory back (forced collections).
func TestBurstReturnsMemory(t *testing.T) {
	stop := make(chan string)
	r := startRun(t, t.Context(), Config{ReadyAfter: time.Hour, Stop: stop})
	r.next(Born)
	conns := holdPolls(t, r, burstWaiters)
	before := forcedGCs()
	for _, c := range conns {
		c.Close()
	}
	deadline := time.Now().Add(20 * time.Second)
	for forcedGCs() < before+2 {
		if time.Now().After(deadline) {
			t.Fatalf("%d waiters left, %d forced collections since the burst drained, want 2", r.s.state.waiters.Load(), forcedGCs()-before)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if r.s.state.burst.Load() {
		t.Error("still in a burst after it drained")
	}
	stop <- "test over"
	r.next(Died)
}

// forcedGCs counts the collections forced so far (runtime.GC, FreeOSMemory).
func forcedGCs() uint64 {
	s := []rtmetrics.Sample{{Name: "/gc/cycles/forced:gc-cycles"}}
	rtmetrics.Read(s)
	return s[0].Value.Uint64()
}
