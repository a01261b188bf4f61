package main

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/podseq/podseq/internal/exitcode"
	"github.com/podseq/podseq/webhook"
)

// builtBin is kubectl-podseq, built once for the tests that run it as a
// process (buildOnce), in a directory TestMain removes.
var (
	buildOnce sync.Once
	builtDir  string
	builtBin  string
	buildErr  error
)

// built builds kubectl-podseq once per test binary and returns its path.
func built(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "kubectl-podseq-test")
		if err != nil {
			buildErr = err
			return
		}
		builtDir = dir
		builtBin = filepath.Join(dir, "kubectl-podseq")
		b := exec.Command("go", "build", "-o", builtBin, ".")
		b.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := b.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// runningWebhook is a kubectl-podseq webhook process serving on loopback.
type runningWebhook struct {
	cmd    *exec.Cmd
	logs   chan string // its stderr, line by line
	client *http.Client
	addr   string
	get    func(path string) int
}

// startWebhook runs kubectl-podseq webhook with a certificate of its own
// and args, and waits until it is ready.
func startWebhook(t *testing.T, args ...string) *runningWebhook {
	t.Helper()
	bin := built(t)
	dir := t.TempDir()
	ca, err := webhook.MakeCA("test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	srv, err := webhook.MakeServing(ca, []string{"localhost"}, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	_ = os.WriteFile(filepath.Join(dir, "tls.crt"), srv.Cert, 0o600)
	_ = os.WriteFile(filepath.Join(dir, "tls.key"), srv.Key, 0o600)
	w := &runningWebhook{addr: freePort(t), logs: make(chan string, 100)}
	w.cmd = exec.Command(bin, append([]string{"webhook", "--listen", w.addr, "--cert-dir", dir}, args...)...)
	stderr, _ := w.cmd.StderrPipe()
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.cmd.Process.Kill() })
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			w.logs <- sc.Text()
		}
		close(w.logs)
	}()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca.Cert)
	w.client = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"}}}
	w.get = func(path string) int {
		resp, err := w.client.Get("https://" + w.addr + path)
		if err != nil {
			return 0
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	deadline := time.Now().Add(20 * time.Second)
	for w.get("/readyz") != 200 {
		if time.Now().After(deadline) {
			t.Fatal("never ready")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return w
}

// TestWebhookMode: --mode applies to every pod, as inject's does: on a
// cluster without native sidecars (Kubernetes 1.27, 1.28) --mode gate
// keeps a dependent without command from getting native sidecars, which
// the API server there would reject.
func TestWebhookMode(t *testing.T) {
	t.Parallel()
	const pod = `{"kind":"Pod","metadata":{"name":"p","annotations":{"after.podseq.dev/app":"proxy"}},` +
		`"spec":{"containers":[{"name":"app","image":"a"},{"name":"proxy","image":"p",` +
		`"readinessProbe":{"httpGet":{"path":"/ready","port":8080}}}]}}`
	review := `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"x","kind":{"version":"v1","kind":"Pod"},` +
		`"resource":{"version":"v1","resource":"pods"},"operation":"CREATE","object":` + pod + `}}`
	for _, tc := range []struct {
		args         []string
		native, hook bool
	}{
		{nil, true, false},
		{[]string{"--mode", "gate"}, false, true},
	} {
		w := startWebhook(t, tc.args...)
		resp, err := w.client.Post("https://"+w.addr+"/mutate", "application/json", strings.NewReader(review))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var out struct {
			Response struct {
				Allowed bool
				Patch   []byte
			}
		}
		if err := json.Unmarshal(body, &out); err != nil || !out.Response.Allowed {
			t.Fatalf("%v: answer %s (%v)", tc.args, body, err)
		}
		patch := string(out.Response.Patch)
		if native := strings.Contains(patch, `"restartPolicy":"Always"`); native != tc.native {
			t.Errorf("%v: native sidecar %v, want %v: patch %s", tc.args, native, tc.native, patch)
		}
		if hook := strings.Contains(patch, `"postStart"`); hook != tc.hook {
			t.Errorf("%v: postStart hook %v, want %v: patch %s", tc.args, hook, tc.hook, patch)
		}
	}
}

// TestWebhookServesAndDrains runs kubectl-podseq webhook as a process:
// ready once it serves; on SIGTERM /readyz turns 503 first, reviews are
// still answered during --shutdown-delay, and it exits 0.
func TestWebhookServesAndDrains(t *testing.T) {
	t.Parallel()
	w := startWebhook(t, "--shutdown-delay", "1500ms")
	cmd, logs, client, addr, get := w.cmd, w.logs, w.client, w.addr, w.get
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Second)
	for get("/readyz") != http.StatusServiceUnavailable {
		if time.Now().After(deadline) {
			t.Fatal("/readyz not 503 within 1 s of SIGTERM")
		}
		time.Sleep(20 * time.Millisecond)
	}
	review := `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"x","kind":{"version":"v1","kind":"Pod"},"resource":{"version":"v1","resource":"pods"},"operation":"CREATE","object":{"kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"a"}]}}}}`
	resp, err := client.Post("https://"+addr+"/mutate", "application/json", strings.NewReader(review))
	if err != nil || resp.StatusCode != 200 {
		t.Errorf("a review while draining: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("exit: %v", err)
		}
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("still running 20 s after SIGTERM")
	}
	var all []string
	for l := range logs {
		all = append(all, l)
	}
	if !strings.Contains(strings.Join(all, "\n"), "msg=drained") {
		t.Errorf("log lacks the drain:\n%s", strings.Join(all, "\n"))
	}
}

func TestWebhookBadFlags(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"webhook", "--cert-dir", "/nonexistent"}, 1, "podseq webhook: load the certificate: stat /nonexistent/tls.crt: no such file or directory"},
		{[]string{"webhook", "--timeout", "0s"}, 2, "podseq webhook: --timeout 0s: want a positive duration"},
		{[]string{"webhook", "--mode", "fast"}, 2, `podseq webhook: --mode: unknown mode "fast": want gate, native or tombstone`},
		{[]string{"webhook", "--log-level", "loud"}, 2, `podseq webhook: --log-level "loud": want debug, info, warn or error`},
		{[]string{"webhook", "--nope"}, 2, "podseq webhook: unknown flag --nope"},
		{[]string{"webhook", "extra"}, 2, `podseq webhook: no arguments ("extra")`},
		{[]string{"webhook", "certs", "--renew-before", "9000h"}, 2, "podseq webhook certs: --renew-before 9000h0m0s"},
		{[]string{"webhook", "certs", "--namespace", ""}, 2, "podseq webhook certs: --namespace: empty"},
		{[]string{"unordered", "-f", "-"}, 2, "podseq unordered: not a list of pods"},
	} {
		code, out, stderr := runInject(t, "", c.args...)
		if code != c.code || out != "" || !strings.HasPrefix(stderr, c.want) || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want %d and %q", c.args, code, out, stderr, c.code, c.want)
		}
	}
}

// TestWebhookCertsOutsideAPod: certs run anywhere but in a pod says so.
func TestWebhookCertsOutsideAPod(t *testing.T) {
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	code, _, stderr := runInject(t, "", "webhook", "certs")
	if code != 1 || !strings.HasPrefix(stderr, "podseq webhook certs: not in a pod") {
		t.Errorf("exit %d, %q", code, stderr)
	}
}

func TestUnordered(t *testing.T) {
	t.Parallel()
	list := `{"apiVersion":"v1","kind":"List","items":[
{"kind":"Pod","metadata":{"name":"ok","namespace":"a","annotations":{"after.podseq.dev/app":"p","podseq.dev/injected":"gate"}}},
{"kind":"Pod","metadata":{"name":"missed","namespace":"b","annotations":{"after.podseq.dev/app":"p"}}}]}`
	code, out, stderr := runInject(t, list, "unordered", "-f", "-")
	if code != exitcode.Unordered || stderr != "" || !strings.Contains(out, "NAMESPACE  NAME    REASON\nb          missed  not seen by the webhook") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, stderr)
	}
	code, out, _ = runInject(t, `{"kind":"List","items":[]}`, "unordered", "-f", "-")
	if code != 0 || out != "" {
		t.Errorf("none: exit %d, %q", code, out)
	}
}
