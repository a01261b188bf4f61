package integrations

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/podseq/podseq/tombstone"
)

// earliest is the oldest commit of this repository whose podseq speaks
// today's protocols: the push protocol with every header it has now
// (Podseq-Hold, and Podseq-Died and Podseq-Instance, added on the poll
// branch), and tombstone format v1 with every state and key it has now (the
// skipped state and the steps' keys, added on the steps branch), the two
// first together on the main line in the merge of the native branch. An older
// commit lacks one of them; docs/compatibility.md promises compatibility
// from here on. Move it forward only with the promise.
const earliest = "4c4ab9e25d8bd45f8c339f999e7807c7d4124416"

// oldPodseq builds cmd/podseq from the earliest compatible commit: git
// archive of that commit into a temporary directory, then go build there.
func oldPodseq(t testing.TB) string {
	return once(t, "podseq@"+earliest[:7], func() (string, error) {
		dir, err := binDir()
		if err != nil {
			return "", err
		}
		src := filepath.Join(dir, "src-"+earliest[:7])
		if err := os.MkdirAll(src, 0o755); err != nil {
			return "", err
		}
		archive := exec.Command("git", "-C", root, "archive", "--format=tar", earliest)
		var tarball, stderr bytes.Buffer
		archive.Stdout, archive.Stderr = &tarball, &stderr
		if err := archive.Run(); err != nil {
			return "", fmt.Errorf("git archive %s: %v: %s (the test needs a full clone of the repository: git fetch --unshallow)",
				earliest, err, strings.TrimSpace(stderr.String()))
		}
		untar := exec.Command("tar", "-x", "-C", src)
		untar.Stdin, untar.Stderr = &tarball, &stderr
		if err := untar.Run(); err != nil {
			return "", fmt.Errorf("untar %s: %v: %s", earliest, err, stderr.String())
		}
		out := filepath.Join(dir, "old", "podseq")
		_, err = goCmd(src, []string{"CGO_ENABLED=0", "GOFLAGS=-mod=readonly"}, "build", "-trimpath", "-buildvcs=false", "-o", out, "./cmd/podseq")
		return out, err
	})
}

// versions are the two podseqs of a mixed pod.
type versions struct{ name, runner, waiter string }

// pairs gives both directions: an earlier podseq run with today's podseq
// wait, and today's run with the earlier wait.
func pairs(t *testing.T) []versions {
	old, cur := oldPodseq(t), podseqBin(t, "podseq")
	return []versions{
		{"earlier run, current wait", old, cur},
		{"current run, earlier wait", cur, old},
	}
}

// proc is a podseq running in the background.
type proc struct {
	cmd    *exec.Cmd
	stderr *bytes.Buffer
	done   chan struct{}
	err    error
}

func start(t *testing.T, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(bin, args...), stderr: &bytes.Buffer{}, done: make(chan struct{})}
	p.cmd.Stdout = io.Discard
	p.cmd.Stderr = &lockedWriter{w: p.stderr}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// wait waits for the process to exit on its own, up to d.
func (p *proc) wait(t *testing.T, d time.Duration, what string) int {
	t.Helper()
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(d):
		t.Fatalf("%s: still running after %s; stderr: %s", what, d, p.stderrText())
		return -1
	}
}

func (p *proc) stderrText() string {
	lw := p.cmd.Stderr.(*lockedWriter)
	lw.mu.Lock()
	defer lw.mu.Unlock()
	return p.stderr.String()
}

// freePort is a loopback port nobody listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// counter reads a counter from a podseq run's /metrics; -1 when absent.
func counter(t *testing.T, addr, series string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("scrape %s: %v", addr, err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", series, err)
			}
			return f
		}
	}
	return -1
}

// TestCompatPushRelease: a podseq wait of one version is released by a
// podseq run of the other through the push protocol: it sees Podseq-Hold,
// long-polls /ready?wait=, and the run answers that held request the moment
// its (simulated) sidecar turns ready.
func TestCompatPushRelease(t *testing.T) {
	t.Parallel()
	for _, v := range pairs(t) {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
			run := start(t, v.runner, "run", "--listen", addr, "--ready-after", "2s")
			waitStart := time.Now()
			wait := start(t, v.waiter, "wait", "--timeout=1m", "http://"+addr+"/ready")
			if code := wait.wait(t, time.Minute, "podseq wait"); code != 0 {
				t.Fatalf("podseq wait: exit %d: %s", code, wait.stderrText())
			}
			t.Logf("released after %s", time.Since(waitStart).Round(time.Millisecond))
			// The release came through a held long poll, not a poll.
			if n := counter(t, addr, `podseq_long_polls_total{result="released"}`); n < 1 {
				t.Errorf("released long polls %v: the wait did not long-poll", n)
			}
			if n := counter(t, addr, `podseq_ready_requests_total{mode="long_poll"}`); n < 1 {
				t.Errorf("long-poll requests %v", n)
			}
			_ = run.cmd.Process.Signal(syscall.SIGTERM)
			if code := run.wait(t, 30*time.Second, "podseq run"); code != 0 {
				t.Errorf("podseq run after SIGTERM: exit %d: %s", code, run.stderrText())
			}
		})
	}
}

// TestCompatTombstones: birth and death order through tombstones in one
// graveyard between the versions. The app (one version) starts only once
// the proxy (the other) is ready, and the proxy, with --death-deps app,
// stops once the app has died. Each reads the other's tombstones, and
// today's tombstone package reads both.
func TestCompatTombstones(t *testing.T) {
	t.Parallel()
	for _, v := range pairs(t) {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			g := t.TempDir()
			saw := filepath.Join(g, "app-saw-proxy")
			// The app starts first and waits for the proxy's birth; its
			// command records the proxy's tombstone as it finds it.
			app := start(t, v.waiter, "run", "--name", "app", "--graveyard", g, "--listen", "127.0.0.1:0",
				"--birth-deps", "proxy", "--", "sh", "-c", `cp "$1/proxy" "$2" && sleep 0.5`, "sh", g, saw)
			proxy := start(t, v.runner, "run", "--name", "proxy", "--graveyard", g, "--listen", "127.0.0.1:0",
				"--ready-after", "1s", "--death-deps", "app", "--", "sleep", "120")
			if code := app.wait(t, time.Minute, "the app's podseq run"); code != 0 {
				t.Fatalf("app: exit %d: %s", code, app.stderrText())
			}
			code := proxy.wait(t, time.Minute, "the proxy's podseq run (--death-deps app)")
			t.Logf("proxy exited %d after the app died", code)

			b, err := os.ReadFile(saw)
			if err != nil {
				t.Fatalf("the app's command did not run: %v", err)
			}
			seen, err := tombstone.Parse(b)
			if err != nil {
				t.Fatalf("the proxy's tombstone as the app saw it: %v\n%s", err, b)
			}
			if seen.State != tombstone.Ready {
				t.Errorf("the app started while the proxy was %s, want ready:\n%s", seen.State, b)
			}
			appT, err := tombstone.Read(g, "app")
			if err != nil {
				t.Fatal(err)
			}
			proxyT, err := tombstone.Read(g, "proxy")
			if err != nil {
				t.Fatal(err)
			}
			if appT.State != tombstone.Died || appT.ExitCode != 0 || proxyT.State != tombstone.Died {
				t.Fatalf("final states: app %s (exit %d), proxy %s", appT.State, appT.ExitCode, proxyT.State)
			}
			if appT.Born.Before(proxyT.Ready) {
				t.Errorf("app born %s before the proxy was ready %s", appT.Born, proxyT.Ready)
			}
			if proxyT.Died.Before(appT.Died) {
				t.Errorf("proxy died %s before the app %s", proxyT.Died, appT.Died)
			}
			if strings.Join(appT.BirthDeps, ",") != "proxy" {
				t.Errorf("app's birth deps %q", appT.BirthDeps)
			}
		})
	}
}

// lockedWriter lets a test read what a process wrote while it still writes.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}
