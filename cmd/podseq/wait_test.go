package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/podseq/podseq/internal/exitcode"
	"github.com/podseq/podseq/internal/testnet"
)

// listening returns the address of a loopback TCP listener, open until the
// test ends.
func listening(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l.Addr().String()
}

// refused returns a loopback address on which nothing listens.
func refused(t *testing.T) string {
	t.Helper()
	return testnet.Refused(t)
}

func TestWaitReady(t *testing.T) {
	t.Parallel()
	code, stdout, stderr := runInProcess("wait", "tcp://"+listening(t))
	if code != exitcode.OK || stdout != "" {
		t.Fatalf("exit %d, stdout %q, stderr %q; want 0 and no stdout", code, stdout, stderr)
	}
	if !regexp.MustCompile(`^podseq: ready after \d+(\.\d+)?m?s \(1 attempts?\)\n$`).MatchString(stderr) {
		t.Errorf("stderr %q, want one \"ready after\" line", stderr)
	}
	code, stdout, stderr = runInProcess("wait", "--quiet", "tcp://"+listening(t))
	if code != exitcode.OK || stdout != "" || stderr != "" {
		t.Errorf("--quiet: exit %d, stdout %q, stderr %q; want 0 and silence", code, stdout, stderr)
	}
}

// firstLine is the failure line of a refused TCP target with --timeout 2s.
var firstLine = regexp.MustCompile(`^podseq: not ready after 2s: tcp://127\.0\.0\.1:\d+: connection refused \(\d+ attempts\)$`)

func TestWaitNotReadyFirstLine(t *testing.T) {
	t.Parallel()
	addr := refused(t)
	code, stdout, stderr := runInProcess("wait", "--timeout", "2s", "tcp://"+addr)
	if code != exitcode.NotReady || stdout != "" {
		t.Fatalf("exit %d, stdout %q; want 1 and no stdout", code, stdout)
	}
	lines := stderrLines(stderr)
	if len(lines) == 0 || !firstLine.MatchString(lines[0]) || !strings.Contains(lines[0], addr) {
		t.Errorf("stderr %q; the first line must match %s", stderr, firstLine)
	}
}

// The first line names each target that is not ready, and only those.
func TestWaitNotReadyManyTargets(t *testing.T) {
	t.Parallel()
	ok, bad := listening(t), refused(t)
	file := t.TempDir() + "/ready"
	code, _, stderr := runInProcess("wait", "--timeout", "300ms", "tcp://"+ok, "tcp://"+bad, "file://"+file)
	if code != exitcode.NotReady {
		t.Fatalf("exit %d, want 1", code)
	}
	want := regexp.MustCompile(`^podseq: not ready after 300ms: tcp://` + regexp.QuoteMeta(bad) +
		`: connection refused \(\d+ attempts?\); file://` + regexp.QuoteMeta(file) + `: no such file \(\d+ attempts?\)$`)
	if lines := stderrLines(stderr); len(lines) == 0 || !want.MatchString(lines[0]) {
		t.Errorf("stderr %q, want a first line matching %s", stderr, want)
	}
}

// The failure line keeps a target's real last error. When the deadline comes
// while the loop sleeps between attempts, the timer and ctx.Done race
// (probes/loop.go probeTarget): an attempt could once start with the deadline
// already past but ctx.Err() still nil, fail at once with "attempt timed
// out", and replace the real error in the failure line (about 1 run in 5):
// "tcp://127.0.0.1:1: attempt timed out" instead of "connection refused".
func TestWaitFirstLineKeepsTheRealError(t *testing.T) {
	t.Parallel()
	addr := refused(t)
	lines := make(chan string, 20)
	for range cap(lines) {
		go func() {
			_, _, stderr := runInProcess("wait", "--timeout", "150ms", "tcp://"+addr)
			line, _, _ := strings.Cut(stderr, "\n")
			lines <- line
		}()
	}
	var bad []string
	for range cap(lines) {
		if line := <-lines; !strings.Contains(line, ": connection refused (") {
			bad = append(bad, line)
		}
	}
	if len(bad) > 0 {
		t.Errorf("%d of %d failure lines lost the target's error, such as %q", len(bad), cap(lines), bad[0])
	}
}

// --quiet prints nothing but the failure line, as it promises: the pod-IP
// hint, which once followed it, is left out (cmd/podseq/wait.go waitResult).
func TestWaitQuietFailure(t *testing.T) {
	t.Parallel()
	code, stdout, stderr := runInProcess("wait", "--quiet", "--timeout", "200ms", "tcp://"+refused(t))
	if code != exitcode.NotReady || stdout != "" {
		t.Fatalf("exit %d, stdout %q; want 1 and no stdout", code, stdout)
	}
	if lines := stderrLines(stderr); len(lines) != 1 || !strings.HasPrefix(lines[0], "podseq: not ready after 200ms: ") {
		t.Errorf("--quiet stderr %q, want the failure line alone", stderr)
	}
}

func TestWaitFailureLineWithoutQuiet(t *testing.T) {
	t.Parallel()
	_, _, stderr := runInProcess("wait", "--timeout", "200ms", "tcp://"+refused(t))
	lines := stderrLines(stderr)
	if len(lines) < 1 || !strings.HasPrefix(lines[0], "podseq: not ready after 200ms: tcp://") {
		t.Fatalf("stderr %q", stderr)
	}
	for _, l := range lines[1:] {
		if !strings.HasPrefix(l, "podseq: ") {
			t.Errorf("line %q does not start with podseq:", l)
		}
	}
}

func TestWaitLogFormatJSON(t *testing.T) {
	t.Parallel()
	check := func(stderr string) []map[string]any {
		t.Helper()
		var recs []map[string]any
		for _, l := range stderrLines(stderr) {
			var m map[string]any
			if err := json.Unmarshal([]byte(l), &m); err != nil {
				t.Fatalf("line %q is not JSON: %v", l, err)
			}
			recs = append(recs, m)
		}
		return recs
	}
	code, stdout, stderr := runInProcess("wait", "--log-format", "json", "tcp://"+listening(t))
	if recs := check(stderr); code != 0 || stdout != "" || len(recs) != 1 || !strings.HasPrefix(fmt.Sprint(recs[0]["msg"]), "ready after ") {
		t.Errorf("ready: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	addr := refused(t)
	code, stdout, stderr = runInProcess("wait", "--log-format=json", "--timeout", "300ms", "tcp://"+addr)
	recs := check(stderr)
	if code != exitcode.NotReady || stdout != "" || len(recs) == 0 {
		t.Fatalf("not ready: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if recs[0]["level"] != "ERROR" || !strings.HasPrefix(fmt.Sprint(recs[0]["msg"]), "not ready after 300ms: tcp://"+addr+": ") {
		t.Errorf("first record %v", recs[0])
	}
}

func TestWaitFailOpen(t *testing.T) {
	t.Parallel()
	addr := refused(t)
	code, stdout, stderr := runInProcess("wait", "--fail-open", "--timeout", "300ms", "tcp://"+addr)
	if code != exitcode.OK || stdout != "" {
		t.Fatalf("exit %d, stdout %q; want 0 and no stdout", code, stdout)
	}
	want := regexp.MustCompile(`^podseq: not ready after 300ms: tcp://` + regexp.QuoteMeta(addr) + `: .* \(\d+ attempts\); starting anyway \(--fail-open\)$`)
	if lines := stderrLines(stderr); len(lines) != 1 || !want.MatchString(lines[0]) {
		t.Errorf("stderr %q, want one warning matching %s", stderr, want)
	}
	// --fail-open does not hide a usage error.
	if code, _, _ := runInProcess("wait", "--fail-open", "ftp://x:1"); code != exitcode.Usage {
		t.Errorf("--fail-open with a bad target: exit %d, want 2", code)
	}
}

func TestWaitExecProbe(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"true", "false"} {
		if _, err := exec.LookPath(name); err != nil {
			t.Fatalf("this test needs %s: %v", name, err)
		}
	}
	if code, _, stderr := runInProcess("wait", "--quiet", "--exec-probe", "true"); code != 0 || stderr != "" {
		t.Errorf("--exec-probe true: exit %d, stderr %q", code, stderr)
	}
	code, _, stderr := runInProcess("wait", "--timeout", "300ms", "--exec-probe", "false --not-a-podseq-flag 'two words'")
	want := regexp.MustCompile(`^podseq: not ready after 300ms: exec false --not-a-podseq-flag two words: exit status 1 \(\d+ attempts\)$`)
	if lines := stderrLines(stderr); code != exitcode.NotReady || len(lines) == 0 || !want.MatchString(lines[0]) {
		t.Errorf("--exec-probe false: exit %d, stderr %q", code, stderr)
	}
	// A target and two commands together: all must succeed.
	addr := listening(t)
	if code, _, stderr := runInProcess("wait", "--quiet", "--exec-probe", "true", "--exec-probe", "sh -c 'exit 0'", "tcp://"+addr); code != 0 {
		t.Errorf("target and two --exec-probe: exit %d, stderr %q", code, stderr)
	}
	if code, _, stderr := runInProcess("wait", "--timeout", "300ms", "--quiet", "--exec-probe", "true", "--exec-probe", "false"); code != exitcode.NotReady {
		t.Errorf("--exec-probe true --exec-probe false: exit %d, stderr %q; want 1", code, stderr)
	}
}

// Malformed input: exit 2, one line on stderr naming what was wrong, nothing
// on stdout, and no attempt.
func TestWaitUsageErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want string // in the line
	}{
		{"unknown scheme", []string{"ftp://127.0.0.1:21"}, `"ftp://127.0.0.1:21"`},
		{"missing port", []string{"tcp://127.0.0.1"}, `"tcp://127.0.0.1": missing port`},
		{"bad port", []string{"tcp://127.0.0.1:99999"}, `"tcp://127.0.0.1:99999"`},
		{"no scheme", []string{"localhost:8080"}, `"localhost:8080": no scheme`},
		{"bad duration", []string{"--timeout", "5", "tcp://127.0.0.1:1"}, "timeout"},
		{"zero timeout", []string{"--timeout", "0s", "tcp://127.0.0.1:1"}, "--timeout 0s"},
		{"negative period", []string{"--period", "-1s", "tcp://127.0.0.1:1"}, "--period"},
		{"tiny period", []string{"--period", "1us", "tcp://127.0.0.1:1"}, "--period"},
		{"zero attempt timeout", []string{"--attempt-timeout", "0s", "tcp://127.0.0.1:1"}, "--attempt-timeout"},
		{"negative initial delay", []string{"--initial-delay", "-1s", "tcp://127.0.0.1:1"}, "--initial-delay"},
		{"zero success threshold", []string{"--success-threshold", "0", "tcp://127.0.0.1:1"}, "--success-threshold"},
		{"bad int", []string{"--success-threshold", "x", "tcp://127.0.0.1:1"}, "success-threshold"},
		{"bad status range", []string{"--status", "200-99", "tcp://127.0.0.1:1"}, "--status"},
		{"backwards status range", []string{"--status", "399-200", "tcp://127.0.0.1:1"}, "--status"},
		{"bad header", []string{"--header", "NoColon", "tcp://127.0.0.1:1"}, "--header"},
		{"bad header name", []string{"--header", "X Y:1", "tcp://127.0.0.1:1"}, "--header"},
		{"bad regex", []string{"--body-regex", "(", "tcp://127.0.0.1:1"}, "--body-regex"},
		{"bad log format", []string{"--log-format", "xml", "tcp://127.0.0.1:1"}, "--log-format"},
		{"bad CA file", []string{"--ca-file", "/nonexistent/ca.pem", "https://127.0.0.1:1/"}, "--ca-file"},
		{"no target", nil, "no target"},
		{"flag after target", []string{"tcp://127.0.0.1:1", "--timeout", "1s"}, `"--timeout" looks like a flag`},
		{"nothing after --", []string{"tcp://127.0.0.1:1", "--"}, "nothing after --"},
		{"empty exec probe", []string{"--exec-probe", " "}, "--exec-probe: empty command"},
		{"unterminated quote", []string{"--exec-probe", "sh -c 'exit 0"}, "--exec-probe: command \"sh -c 'exit 0\": unterminated ' quote"},
		{"missing exec probe", []string{"--exec-probe", "/nonexistent/check"}, "/nonexistent/check"},
		{"unknown flag", []string{"--nope", "tcp://127.0.0.1:1"}, "unknown flag"},
		{"IPv6 without brackets", []string{"tcp://fe80::1"}, `bad target "tcp://fe80::1": an IPv6 address needs brackets around it, as in tcp://[::1]:8080`},
		{"host name too long", []string{"tcp://" + strings.Repeat("a", 100000) + ":1"}, "100000 characters long, longer than DNS allows (253)"},
		{"CA file and no verification", []string{"--ca-file", "/etc/ca.pem", "--insecure-skip-verify", "https://127.0.0.1:1/"}, "--ca-file and --insecure-skip-verify exclude each other"},
		{"bad CA file, http target", []string{"--ca-file", "/nonexistent/ca.pem", "http://127.0.0.1:1/"}, "podseq wait: --ca-file: open /nonexistent/ca.pem: no such file or directory"},
		{"CA file without a certificate", []string{"--ca-file", "/dev/null", "tcp://127.0.0.1:1"}, "--ca-file /dev/null: no PEM certificate in it"},
		{"status, no HTTP target", []string{"--status", "204", "tcp://127.0.0.1:1", "grpc://127.0.0.1:1"}, "podseq wait: --status is for http:// and https:// targets, and no target is one"},
		{"body, no HTTP target", []string{"--body-contains", "ok", "tcp://127.0.0.1:1"}, "--body-contains is for http:// and https:// targets"},
		{"regex, no HTTP target", []string{"--body-regex", "ok", "--exec-probe", "true"}, "--body-regex is for http:// and https:// targets"},
		{"header, no HTTP target", []string{"--header", "X-A:1", "tcp://127.0.0.1:1"}, "--header is for http:// and https:// targets"},
		{"insecure, no TLS target", []string{"--insecure-skip-verify", "http://127.0.0.1:1/"}, "--insecure-skip-verify is for https:// and grpcs:// targets"},
		{"initial delay past timeout", []string{"--initial-delay", "5s", "--timeout", "2s", "tcp://127.0.0.1:1"}, "--initial-delay 5s is not shorter than --timeout 2s: the wait would end before its first attempt"},
		{"zero period", []string{"--period=0", "tcp://127.0.0.1:1"}, "--period 0s: must be at least 1ms (leave --period out for the default schedule)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := runInProcess(append([]string{"wait"}, tt.args...)...)
			lines := stderrLines(stderr)
			if code != exitcode.Usage || stdout != "" || len(lines) != 1 {
				t.Fatalf("exit %d, stdout %q, stderr %q; want 2, one line on stderr", code, stdout, stderr)
			}
			if !strings.HasPrefix(lines[0], "podseq wait: ") || !strings.Contains(lines[0], tt.want) || len(lines[0]) > 500 {
				t.Errorf("line %q, want \"podseq wait: ...%s...\"", lines[0], tt.want)
			}
		})
	}
}

// A probe flag that no target uses is let be when it comes from the
// environment: a container's env reaches both its podseq run and its hook.
func TestWaitUnusedFlagFromEnv(t *testing.T) {
	t.Setenv("PODSEQ_STATUS", "204")
	t.Setenv("PODSEQ_HEADER", "X-A:1")
	if code, _, stderr := runInProcess("wait", "--quiet", "tcp://"+listening(t)); code != exitcode.OK {
		t.Errorf("PODSEQ_STATUS with a tcp target: exit %d, stderr %q; want 0", code, stderr)
	}
}

// Usage errors that a review found exit 2 with one line. A header value with
// a control character other than CR, LF and NUL was once accepted
// (cmd/podseq/probeflags.go parseHeader), and then every request failed
// ("net/http: invalid header field value"): a usage error turned into a wait
// that ran to its deadline and exited 1. And a mistyped command exited 3
// (urfave/cli's "No help topic"), a code that is not documented.
func TestWaitUsageErrorsFoundByReview(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"wait", "--timeout", "300ms", "--header", "X-Token:a\x01b", "http://127.0.0.1:1/"},
		{"wiat", "tcp://127.0.0.1:1"},
	} {
		code, stdout, stderr := runInProcess(args...)
		if code != exitcode.Usage || stdout != "" || len(stderrLines(stderr)) != 1 {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want 2 and one line", args, code, stdout, stderr)
		}
	}
}

// Every flag of wait has its PODSEQ_* environment variable, and setting it
// sets the flag; a flag on the command line wins.
func TestWaitEnvVars(t *testing.T) {
	samples := map[string]string{} // flag name -> the env value that was set
	app := newApp(new(bytes.Buffer), new(bytes.Buffer))
	var wait *cli.Command
	for _, c := range app.Commands {
		if c.Name == "wait" {
			wait = c
		}
	}
	if wait == nil {
		t.Fatal("no wait command")
	}
	for _, f := range wait.Flags {
		name := f.Names()[0]
		ev, ok := f.(interface{ GetEnvVars() []string })
		if !ok {
			t.Errorf("flag --%s has no env vars", name)
			continue
		}
		want := "PODSEQ_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
		if got := ev.GetEnvVars(); len(got) != 1 || got[0] != want {
			t.Errorf("flag --%s: env vars %q, want [%s]", name, got, want)
		}
		var v string
		switch f.(type) {
		case *cli.DurationFlag:
			v = "7s"
		case *cli.IntFlag:
			v = "7"
		case *cli.BoolFlag:
			v = "true"
		case *cli.StringSliceFlag:
			v = "X-Env:7"
		case *cli.PathFlag:
			v = "/env/7"
		case *cli.StringFlag:
			v = "env7"
		default:
			t.Errorf("flag --%s: a type %T this test does not know", name, f)
			continue
		}
		t.Setenv(want, v)
		samples[name] = v
	}
	got := map[string]string{}
	wait.Action = func(c *cli.Context) error {
		for name := range samples {
			if !c.IsSet(name) {
				got[name] = "(not set)"
				continue
			}
			switch v := c.Value(name).(type) {
			case cli.StringSlice:
				got[name] = strings.Join(v.Value(), ",")
			case *cli.StringSlice:
				got[name] = strings.Join(v.Value(), ",")
			default:
				got[name] = fmt.Sprint(v)
			}
		}
		got["timeout(flag)"] = c.Duration("timeout").String()
		return nil
	}
	inProcess.Lock()
	err := app.Run([]string{"podseq", "wait", "--timeout", "9s"})
	inProcess.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range samples {
		if name == "timeout" {
			continue
		}
		if got[name] != v {
			t.Errorf("PODSEQ_* of --%s = %q: the flag reads %q", name, v, got[name])
		}
	}
	if got["timeout(flag)"] != "9s" {
		t.Errorf("--timeout 9s with PODSEQ_TIMEOUT=7s: got %s, want the flag", got["timeout(flag)"])
	}
}

// An env var is really used by `podseq wait`, and a bad value is a usage
// error that names it.
func TestWaitEnvVarValues(t *testing.T) {
	t.Setenv("PODSEQ_TIMEOUT", "300ms")
	code, _, stderr := runInProcess("wait", "tcp://"+refused(t))
	if lines := stderrLines(stderr); code != exitcode.NotReady || len(lines) == 0 || !strings.HasPrefix(lines[0], "podseq: not ready after 300ms: ") {
		t.Errorf("PODSEQ_TIMEOUT=300ms: exit %d, stderr %q", code, stderr)
	}
	for env, bad := range map[string]string{
		"PODSEQ_TIMEOUT":           "abc",
		"PODSEQ_SUCCESS_THRESHOLD": "x",
		"PODSEQ_QUIET":             "maybe",
		"PODSEQ_STATUS":            "2000",
		"PODSEQ_LOG_FORMAT":        "xml",
		"PODSEQ_HEADER":            "nocolon",
	} {
		t.Run(env, func(t *testing.T) {
			t.Setenv(env, bad)
			code, stdout, stderr := runInProcess("wait", "tcp://127.0.0.1:1")
			lines := stderrLines(stderr)
			if code != exitcode.Usage || stdout != "" || len(lines) != 1 {
				t.Fatalf("%s=%s: exit %d, stdout %q, stderr %q; want 2 and one line", env, bad, code, stdout, stderr)
			}
			// The line names the variable, or at least its flag.
			flag := strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(env, "PODSEQ_"), "_", "-"))
			if !strings.Contains(lines[0], env) && !strings.Contains(lines[0], flag) {
				t.Errorf("line %q names neither %s nor --%s", lines[0], env, flag)
			}
		})
	}
}

func TestWaitHelp(t *testing.T) {
	t.Parallel()
	code, stdout, stderr := runInProcess("wait", "--help")
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	for _, want := range []string{
		"postStart", "initContainers", "tcp://", "grpc://", "unix://", "file://", "-- COMMAND", "--exec-probe", "127",
		"EXIT CODES", "130", "143", "PODSEQ_TIMEOUT", "--fail-open",
		"progress, every 5s", "/proc/1/fd/2", "first line of a failed hook",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("wait --help lacks %q", want)
		}
	}
}

// End to end: the built binary, its exit codes and its first line.
func TestBinaryExitCodes(t *testing.T) {
	t.Parallel()
	bin := podseqBinary(t)
	addr := refused(t)
	tests := []struct {
		args  []string
		code  int
		first *regexp.Regexp
	}{
		{[]string{"wait", "--quiet", "tcp://" + listening(t)}, 0, nil},
		{[]string{"wait", "--timeout", "2s", "tcp://" + addr}, 1, firstLine},
		{[]string{"wait", "ftp://x:1"}, 2, regexp.MustCompile(`^podseq wait: bad target "ftp://x:1": unknown scheme`)},
		{[]string{"wait", "--timeout", "1s", "--fail-open", "tcp://" + addr}, 0, regexp.MustCompile(`starting anyway \(--fail-open\)$`)},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			cmd := exec.Command(bin, tt.args...)
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			var ee *exec.ExitError
			if err != nil && !errors.As(err, &ee) {
				t.Fatal(err)
			}
			if code := cmd.ProcessState.ExitCode(); code != tt.code {
				t.Errorf("exit %d, want %d; stderr %q", code, tt.code, stderr.String())
			}
			if stdout.Len() > 0 {
				t.Errorf("stdout %q, want nothing", stdout.String())
			}
			lines := stderrLines(stderr.String())
			if tt.first == nil {
				if len(lines) > 0 {
					t.Errorf("stderr %q, want nothing", stderr.String())
				}
			} else if len(lines) == 0 || !tt.first.MatchString(lines[0]) {
				t.Errorf("stderr %q, want a first line matching %s", stderr.String(), tt.first)
			}
		})
	}
}

func TestBinaryVersion(t *testing.T) {
	t.Parallel()
	out, err := exec.Command(podseqBinary(t), "--version").Output()
	if err != nil || !strings.Contains(string(out), "test") {
		t.Errorf("--version: %q, %v", out, err)
	}
}

// A signal stops a waiting podseq at once, with 128+N and a line that says so.
func TestBinarySignals(t *testing.T) {
	t.Parallel()
	bin := podseqBinary(t)
	for _, tt := range []struct {
		sig  syscall.Signal
		code int
		name string
	}{{syscall.SIGINT, 130, "SIGINT"}, {syscall.SIGTERM, 143, "SIGTERM"}} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// The second request proves that podseq is waiting, with
			// its signal handler in place and one attempt finished.
			srv, asked := askedTwice(t)
			var stdout, stderr bytes.Buffer
			cmd := exec.Command(bin, "wait", "--timeout", "1m", srv.URL+"/ready")
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			select {
			case <-asked:
			case err := <-exited:
				t.Fatalf("podseq exited before its first request: %v, %s", err, stderr.String())
			case <-time.After(30 * time.Second):
				cmd.Process.Kill()
				t.Fatal("no request in 30s")
			}
			sent := time.Now()
			if err := cmd.Process.Signal(tt.sig); err != nil {
				t.Fatal(err)
			}
			select {
			case <-exited:
			case <-time.After(2 * time.Second):
				cmd.Process.Kill()
				<-exited
				t.Fatalf("podseq still runs 2s after %s", tt.name)
			}
			t.Logf("exited %s after %s", time.Since(sent), tt.name)
			if code := cmd.ProcessState.ExitCode(); code != tt.code {
				t.Errorf("exit %d (%v), want %d", code, cmd.ProcessState, tt.code)
			}
			want := regexp.MustCompile(`^podseq: interrupted by ` + tt.name + ` after \S+: ` + regexp.QuoteMeta(srv.URL) + `/ready: 503 Service Unavailable \(\d+ attempts?\)$`)
			if lines := stderrLines(stderr.String()); len(lines) != 1 || !want.MatchString(lines[0]) {
				t.Errorf("stderr %q, want one line matching %s", stderr.String(), want)
			}
			if stdout.Len() > 0 {
				t.Errorf("stdout %q", stdout.String())
			}
		})
	}
}

// askedTwice starts a server that answers 503 and closes asked at its second
// request: a podseq waiting on it has its signal handler in place and one
// attempt finished. The server is closed when the test ends.
func askedTwice(t *testing.T) (*httptest.Server, <-chan struct{}) {
	t.Helper()
	asked := make(chan struct{})
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if n.Add(1) == 2 {
			close(asked)
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(srv.Close)
	return srv, asked
}

// The binary's environment reaches its flags.
func TestBinaryEnv(t *testing.T) {
	t.Parallel()
	cmd := exec.Command(podseqBinary(t), "wait", "tcp://"+refused(t))
	cmd.Env = append(os.Environ(), "PODSEQ_TIMEOUT=2s", "PODSEQ_QUIET=true")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.Run()
	if lines := stderrLines(stderr.String()); cmd.ProcessState.ExitCode() != 1 || len(lines) == 0 || !firstLine.MatchString(lines[0]) {
		t.Errorf("exit %d, stderr %q", cmd.ProcessState.ExitCode(), stderr.String())
	}
}

func init() {
	// exec-report CODE: say on stdout which process this is and on stderr
	// that it runs, then exit CODE: the command that podseq wait execs.
	registerTestHelper("exec-report", func(args []string) int {
		n, _ := strconv.Atoi(args[0])
		fmt.Printf("pid %d args %q\n", os.Getpid(), args[1:])
		fmt.Fprintln(os.Stderr, "exec-report runs")
		return n
	})
}

// podseq wait TARGET -- COMMAND: once ready, COMMAND replaces podseq. It has
// podseq's pid, its own stdout, stderr and exit code, and its arguments as
// given, flags included.
func TestWaitExecsCommand(t *testing.T) {
	t.Parallel()
	bin := podseqBinary(t)
	for _, code := range []int{0, 3, 200} {
		t.Run(strconv.Itoa(code), func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			cmd := exec.Command(bin, "wait", "--timeout=20s", "tcp://"+listening(t), "--", os.Args[0], strconv.Itoa(code), "--timeout=1s", "--")
			cmd.Env = append(os.Environ(), testHelperEnv+"=exec-report")
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			var ee *exec.ExitError
			if err != nil && !errors.As(err, &ee) {
				t.Fatal(err)
			}
			if got := cmd.ProcessState.ExitCode(); got != code {
				t.Errorf("exit %d, want the command's %d; stderr %q", got, code, stderr.String())
			}
			want := fmt.Sprintf("pid %d args [\"--timeout=1s\" \"--\"]\n", cmd.Process.Pid)
			if stdout.String() != want {
				t.Errorf("stdout %q, want %q: the command must run in podseq's process", stdout.String(), want)
			}
			lines := stderrLines(stderr.String())
			if len(lines) != 2 || !strings.HasPrefix(lines[0], "podseq: ready after ") || lines[1] != "exec-report runs" {
				t.Errorf("stderr %q, want podseq's ready line, then the command's", stderr.String())
			}
		})
	}
}

// A COMMAND that cannot be executed is reported before the wait, with a
// shell's codes: 127 not found, 126 not executable. Nothing is waited for:
// the target is refused and --timeout is long.
func TestWaitCommandCannotExec(t *testing.T) {
	t.Parallel()
	plain := t.TempDir() + "/not-executable"
	if err := os.WriteFile(plain, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		command string
		code    int
		want    string
	}{
		{"podseq-no-such-command", exitcode.NotFound, `podseq wait: cannot exec "podseq-no-such-command": executable file not found in $PATH`},
		{"/nonexistent/app", exitcode.NotFound, `podseq wait: cannot exec "/nonexistent/app": `},
		{plain, exitcode.CannotExec, "permission denied"},
		{t.TempDir(), exitcode.CannotExec, "is a directory"},
	} {
		code, stdout, stderr := runInProcess("wait", "--timeout=1h", "tcp://"+refused(t), "--", tt.command, "arg")
		if lines := stderrLines(stderr); code != tt.code || stdout != "" || len(lines) != 1 || !strings.Contains(lines[0], tt.want) {
			t.Errorf("-- %s: exit %d, stdout %q, stderr %q; want %d and one line with %q", tt.command, code, stdout, stderr, tt.code, tt.want)
		}
	}
}

// The environment variable of a repeatable flag holds one value a line, and
// commas stay inside their value.
func TestRepeatableFlagsFromEnv(t *testing.T) {
	var got atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Store(fmt.Sprintf("%q %q", r.Header.Values("X-A"), r.Header.Values("X-B")))
	}))
	defer srv.Close()
	t.Setenv("PODSEQ_HEADER", "X-A:1,2\r\n\nX-B: b\n")
	if code, _, stderr := runInProcess("wait", "--quiet", "--timeout=20s", srv.URL+"/a,b"); code != exitcode.OK {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	if want := `["1,2"] ["b"]`; got.Load() != want {
		t.Errorf("PODSEQ_HEADER of two lines: the server saw X-A, X-B = %v, want %s", got.Load(), want)
	}

	os.Unsetenv("PODSEQ_HEADER") // t.Setenv restores it
	t.Setenv("PODSEQ_EXEC_PROBE", "true\nsh -c 'exit 4'")
	code, _, stderr := runInProcess("wait", "--timeout=300ms")
	if lines := stderrLines(stderr); code != exitcode.NotReady || len(lines) == 0 || !strings.Contains(lines[0], ": exec sh -c exit 4: exit status 4 (") || strings.Contains(lines[0], "exec true") {
		t.Errorf("PODSEQ_EXEC_PROBE of two lines: exit %d, stderr %q; want 1, only the second not ready", code, stderr)
	}
	os.Unsetenv("PODSEQ_EXEC_PROBE")

	// podseq run --ready: the second line is a target of its own, and is
	// checked as one.
	t.Setenv("PODSEQ_READY", "http://127.0.0.1:1/a,b\nftp://127.0.0.1:1")
	code, _, stderr = runInProcess("run", "--listen=127.0.0.1:0", "--", "true")
	if lines := stderrLines(stderr); code != exitcode.Usage || len(lines) != 1 || !strings.Contains(lines[0], `bad target "ftp://127.0.0.1:1": unknown scheme`) {
		t.Errorf("PODSEQ_READY of two lines: exit %d, stderr %q; want 2 naming the second", code, stderr)
	}
}

// PODSEQ_DISABLED=true: wait returns 0 at once, whatever it was to wait for,
// and says so on one line, even with --quiet.
func TestWaitDisabled(t *testing.T) {
	t.Setenv("PODSEQ_DISABLED", "true")
	code, stdout, stderr := runInProcess("wait", "--quiet", "--timeout=1h", "tcp://"+refused(t), "file:///nonexistent/ready")
	want := "podseq: wait disabled by --disabled or PODSEQ_DISABLED: not waiting for 2 targets; exiting 0\n"
	if code != exitcode.OK || stdout != "" || stderr != want {
		t.Errorf("exit %d, stdout %q, stderr %q; want 0 and %q", code, stdout, stderr, want)
	}
	// With -- COMMAND the command still runs: in podseq's place.
	var out, errb bytes.Buffer
	cmd := exec.Command(podseqBinary(t), "wait", "--timeout=1h", "tcp://"+refused(t), "--", os.Args[0], "5")
	cmd.Env = append(os.Environ(), testHelperEnv+"=exec-report")
	cmd.Stdout, cmd.Stderr = &out, &errb
	_ = cmd.Run()
	if got := cmd.ProcessState.ExitCode(); got != 5 || !strings.HasPrefix(out.String(), fmt.Sprintf("pid %d ", cmd.Process.Pid)) ||
		!strings.HasPrefix(errb.String(), "podseq: wait disabled by --disabled or PODSEQ_DISABLED: not waiting for 1 target; exec ") {
		t.Errorf("disabled with -- COMMAND: exit %d, stdout %q, stderr %q; want the command's 5 and output", got, out.String(), errb.String())
	}
	t.Setenv("PODSEQ_DISABLED", "false")
	if code, _, _ := runInProcess("wait", "--quiet", "--timeout=200ms", "tcp://"+refused(t)); code != exitcode.NotReady {
		t.Errorf("PODSEQ_DISABLED=false: exit %d, want 1", code)
	}
}

// podseq wait --shutdown TARGET -- COMMAND: a Job's app. Once the sidecar (a
// real podseq run) is ready the command runs as a child; when it exits the
// sidecar is stopped through its /quitquitquit, and wait exits with the
// command's code.
func TestWaitShutdown(t *testing.T) {
	t.Parallel()
	sidecar := startPodseqRun(t, nil, "--ready-after=50ms")
	other := startPodseqRun(t, nil, "--ready-after=10ms")
	addr := sidecar.addr()
	other.addr()
	app := startPodseq(t, []string{testHelperEnv + "=exec-report"}, "wait", "--shutdown", "--timeout=20s",
		"http://"+addr+"/ready", "tcp://"+listening(t), "--", os.Args[0], "3", "arg")
	code, stderr := app.wait(t)
	if code != 3 {
		t.Errorf("exit %d, want the command's 3; stderr:\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "exec-report runs\n") || !strings.Contains(stderr, "podseq: --shutdown: stopped the podseq run of http://"+addr+"/ready\n") {
		t.Errorf("stderr:\n%s\nwant the command's line, then the sidecar stopped", stderr)
	}
	if got := sidecar.wait(); got != 0 {
		t.Errorf("the sidecar exited %d, want 0 (stopped by /quitquitquit)", got)
	}
	if sidecar.record("stopping") == nil {
		t.Error("the sidecar never said it was stopping")
	}
	// A podseq run that was not waited on is left alone.
	select {
	case <-other.exited:
		t.Errorf("a podseq run that was not a target exited %d", other.code)
	default:
	}
}

// SIGTERM to podseq wait --shutdown goes to the command; when it has died of
// it the sidecar is stopped too, and wait exits 143 as the command did.
func TestWaitShutdownForwardsSignals(t *testing.T) {
	t.Parallel()
	sidecar := startPodseqRun(t, nil, "--ready-after=10ms")
	app := startPodseq(t, []string{testHelperEnv + "=run-linger"}, "wait", "--shutdown", "--timeout=20s",
		"http://"+sidecar.addr()+"/ready", "--", os.Args[0], "1h", "0")
	app.waitLog(t, "podseq: started pid=")
	if err := app.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code, stderr := app.wait(t); code != 143 {
		t.Errorf("exit %d, want 143; stderr:\n%s", code, stderr)
	}
	if got := sidecar.wait(); got != 0 {
		t.Errorf("the sidecar exited %d, want 0 (stopped by /quitquitquit)", got)
	}
}

// --shutdown without a command to run is a usage error; so is --shutdown
// with no target that is a podseq run, which nothing would stop: refused
// before the command runs, at once when no target is http(s), else once the
// targets answered.
func TestWaitShutdownUsage(t *testing.T) {
	t.Parallel()
	code, _, stderr := runInProcess("wait", "--shutdown", "tcp://127.0.0.1:1")
	if want := "podseq wait: --shutdown needs -- COMMAND: the command to run before the sidecars waited on are stopped\n"; code != exitcode.Usage || stderr != want {
		t.Errorf("exit %d, stderr %q; want 2, %q", code, stderr, want)
	}
	mark := filepath.Join(t.TempDir(), "ran")
	code, _, stderr = runInProcess("wait", "--shutdown", "--timeout=1h", "tcp://127.0.0.1:1", "--", "touch", mark)
	if lines := stderrLines(stderr); code != exitcode.Usage || len(lines) != 1 ||
		!strings.HasPrefix(lines[0], "podseq wait: --shutdown: no target is http:// or https://, so none is a podseq run admin endpoint and nothing would stop the sidecar after COMMAND: make the sidecar's entrypoint podseq run") {
		t.Errorf("--shutdown with only a tcp:// target: exit %d, stderr %q; want 2 and one line, at once", code, stderr)
	}
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer plain.Close()
	code, _, stderr = runInProcess("wait", "--shutdown", plain.URL+"/ready", "--", "touch", mark)
	if lines := stderrLines(stderr); code != exitcode.Usage || len(lines) != 1 ||
		!strings.HasPrefix(lines[0], "podseq wait: --shutdown: no target is a podseq run admin endpoint (none answered with the Podseq-Hold header), so nothing would stop the sidecar after COMMAND; COMMAND not run: make the sidecar's entrypoint podseq run") {
		t.Errorf("--shutdown with an http:// target that is not podseq run: exit %d, stderr %q; want 2 and one line", code, stderr)
	}
	if _, err := os.Stat(mark); err == nil {
		t.Error("the command ran")
	}
}

// The pod-IP hint follows the failure line only where the pod IP can be the
// cause: inside a pod, for a loopback network target that refused or timed
// out; never for an answer such as a 404 or a TLS error, nor outside a pod.
func TestWaitPodIPHint(t *testing.T) {
	notFound := httptest.NewServer(http.NotFoundHandler())
	defer notFound.Close()
	// Accepts connections and never answers: every attempt times out.
	silent := listening(t)
	remote := "tcp://192.0.2.1:5432" // TEST-NET-1: never routed
	hint := "podseq: hint: if this sidecar needs the pod IP"
	for _, tt := range []struct {
		name  string
		inPod bool
		args  []string
		hint  bool
	}{
		{"refused, in a pod", true, []string{"tcp://" + refused(t)}, true},
		{"timed out, in a pod", true, []string{"--attempt-timeout=20ms", "http://" + silent + "/ready"}, true},
		{"refused and remote, in a pod", true, []string{"--attempt-timeout=20ms", "tcp://" + refused(t), remote}, true},
		{"404, in a pod", true, []string{notFound.URL + "/ready"}, false},
		{"TLS error, in a pod", true, []string{"https://" + strings.TrimPrefix(notFound.URL, "http://") + "/ready"}, false},
		{"remote only, in a pod", true, []string{"--attempt-timeout=20ms", remote}, false},
		{"refused, outside a pod", false, []string{"tcp://" + refused(t)}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.inPod {
				t.Setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
			} else {
				t.Setenv("KUBERNETES_SERVICE_HOST", "")
			}
			code, _, stderr := runInProcess(append([]string{"wait", "--timeout=300ms"}, tt.args...)...)
			if code != exitcode.NotReady {
				t.Fatalf("exit %d, stderr %q; want 1", code, stderr)
			}
			if got := strings.Contains(stderr, hint); got != tt.hint {
				t.Errorf("hint shown %v, want %v; stderr %q", got, tt.hint, stderr)
			}
		})
	}
}

// Messages say what is wrong in the user's own terms.
func TestMessagesThatMisledBefore(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		args []string
		line string // the whole line
	}{
		{[]string{"--bogus"}, "podseq: unknown flag --bogus (see podseq --help)"},
		{[]string{"wait", "-v", "tcp://127.0.0.1:1"}, "podseq wait: unknown flag -v (see podseq wait --help)"},
		{[]string{"wait", "--fail-open=maybe", "tcp://127.0.0.1:1"}, `podseq wait: --fail-open="maybe": want true or false (see podseq wait --help)`},
		{[]string{"wait", "--timeout=10000000h", "tcp://127.0.0.1:1"}, `podseq wait: --timeout "10000000h": too long: a duration is at most 2562047h (about 292 years) (see podseq wait --help)`},
		{[]string{"wait", "--timeout=5", "tcp://127.0.0.1:1"}, `podseq wait: --timeout "5": want a duration such as 500ms, 5s or 2m (see podseq wait --help)`},
		{[]string{"wait", "file:relative/path"}, `podseq wait: bad target "file:relative/path": write file:// and an absolute path, as in file:///relative/path (a relative path means nothing to a hook: it runs in the container's working directory, whatever that is)`},
		{[]string{"wait", "\u2014timeout=1s", "tcp://127.0.0.1:1"}, "podseq wait: \"\u2014timeout=1s\" looks like a flag written with a typographic dash (\u2014), as word processors and chat apps turn -- into: write --timeout=1s"},
		{[]string{"wait", "--header", "Authorization Bearer s3cret", "http://127.0.0.1:1/"}, `podseq wait: --header "Authorization ...": want NAME:VALUE, with a colon after the name`},
		{[]string{"wait", "--header", "AuthorizationBearers3cret", "http://127.0.0.1:1/"}, `podseq wait: --header (25 characters, not shown): want NAME:VALUE, with a colon after the name`},
		{[]string{"wait", "--header", "Authorization Bearer s3cret:x", "http://127.0.0.1:1/"}, `podseq wait: --header "Authorization ...": the name holds " ", which no header name holds`},
	} {
		code, stdout, stderr := runInProcess(tt.args...)
		if code != exitcode.Usage || stdout != "" || stderr != tt.line+"\n" {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want 2 and\n%s", tt.args, code, stdout, stderr, tt.line)
		}
	}
}

// Help, however asked for, is help: exit 0, on stdout.
func TestHelpHoweverAsked(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"help"}, "podseq - put the containers of a Kubernetes pod in order"},
		{[]string{"help", "wait"}, "podseq wait - wait until every target is ready"},
		{[]string{"wait", "help"}, "podseq wait - wait until every target is ready"},
		{[]string{"wait", "--timeout=1s", "-h", "tcp://127.0.0.1:1"}, "podseq wait - wait until every target is ready"},
		{[]string{"run", "--ready-after=1s", "--help"}, "podseq run - supervise a sidecar"},
		{[]string{"install", "/tmp", "-h"}, "podseq install - copy podseq"},
	} {
		code, stdout, stderr := runInProcess(tt.args...)
		if code != 0 || stderr != "" || !strings.Contains(stdout, tt.want) {
			t.Errorf("%q: exit %d, stderr %q, stdout starting %.80q; want 0 and %q", tt.args, code, stderr, stdout, tt.want)
		}
	} // After --, -h is the command's.
	if code, stdout, _ := runInProcess("wait", "--timeout=200ms", "--quiet", "tcp://"+refused(t), "--", "true", "-h"); code != exitcode.NotReady || stdout != "" {
		t.Errorf("-h after --: exit %d, stdout %.80q; want 1 (not ready) and no help", code, stdout)
	}
}

// A failed wait leaves its failure line as the container's termination
// message (kubectl describe prints it once kubelet killed the container for
// the failed hook), never over a message already there, and not for
// --fail-open.
func TestWaitTerminationMessage(t *testing.T) {
	t.Parallel()
	addr := refused(t)
	dir := t.TempDir()
	log := filepath.Join(dir, "termination-log")
	if err := os.WriteFile(log, nil, 0o666); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runInProcess("wait", "--termination-log", log, "--timeout", "300ms", "tcp://"+addr)
	if code != exitcode.NotReady {
		t.Fatalf("exit %d, want %d", code, exitcode.NotReady)
	}
	b, _ := os.ReadFile(log)
	first := stderrLines(stderr)[0]
	if string(b) != first+"\n" || !strings.HasPrefix(first, "podseq: not ready after 300ms: tcp://"+addr) {
		t.Errorf("termination message %q, want the first failure line %q", b, first)
	}
	// A second failure (the container's command, a later hook) keeps it.
	if code, _, _ := runInProcess("wait", "--termination-log", log, "--timeout", "100ms", "tcp://"+addr); code != exitcode.NotReady {
		t.Fatalf("second wait: exit %d", code)
	}
	if again, _ := os.ReadFile(log); string(again) != string(b) {
		t.Errorf("termination message rewritten: %q, want %q kept", again, b)
	}
	open := filepath.Join(dir, "fail-open")
	if code, _, _ := runInProcess("wait", "--fail-open", "--termination-log", open, "--timeout", "100ms", "tcp://"+addr); code != exitcode.OK {
		t.Fatalf("--fail-open: exit %d", code)
	}
	if _, err := os.Stat(open); !os.IsNotExist(err) {
		t.Errorf("--fail-open wrote a termination message (%v): the container is not killed", err)
	}
}

// A wait on a podseq run that is not ready says why, as podseq run served it
// in its 503: the sidecar's own readiness probe's error, not the status alone
// (after a held request ran out, "not ready after 988ms: ...").
func TestWaitCarriesPodseqRunReason(t *testing.T) {
	t.Parallel()
	sidecar := startPodseqRun(t, nil, "--ready=http://"+refused(t)+"/healthz", "--", "sleep", "60")
	url := "http://" + sidecar.addr() + "/ready"
	code, _, stderr := runInProcess("wait", "--timeout=1s", url)
	lines := stderrLines(stderr)
	want := regexp.MustCompile(`^podseq: not ready after 1s: ` + regexp.QuoteMeta(url) + `: 503 Service Unavailable: not ready( after \S+)?: http://127\.0\.0\.1:\d+/healthz: connection refused \(\d+ attempts?\)$`)
	if code != exitcode.NotReady || len(lines) == 0 || !want.MatchString(lines[0]) {
		t.Errorf("exit %d, stderr:\n%s\nwant 1 and a first line matching %s", code, stderr, want)
	}
}

// An attempt that ran into --attempt-timeout says so, with the limit and the
// flag that sets it.
func TestWaitNamesTheAttemptLimit(t *testing.T) {
	t.Parallel()
	silent := listening(t) // accepts, never answers
	code, _, stderr := runInProcess("wait", "--timeout=1s", "--attempt-timeout=200ms", "http://"+silent+"/ready")
	lines := stderrLines(stderr)
	want := "podseq: not ready after 1s: http://" + silent + "/ready: attempt timed out after 200ms (--attempt-timeout) ("
	if code != exitcode.NotReady || len(lines) == 0 || !strings.HasPrefix(lines[0], want) {
		t.Errorf("exit %d, stderr:\n%s\nwant 1 and %q...", code, stderr, want)
	}
}

func init() {
	// touch-exit PATH CODE [SLEEP]: sleeps, creates PATH, exits CODE.
	registerTestHelper("touch-exit", func(args []string) int {
		if len(args) > 2 {
			d, _ := time.ParseDuration(args[2])
			time.Sleep(d)
		}
		if err := os.WriteFile(args[0], nil, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 100
		}
		n, _ := strconv.Atoi(args[1])
		fmt.Fprintln(os.Stderr, "touch-exit ran")
		return n
	})
}

// podseq wait --command-first TARGET -- HOOK: a postStart hook that podseq
// wait is composed with runs first, to its end; the wait follows only if it
// succeeded. The target here exists only once HOOK has run.
func TestWaitCommandFirst(t *testing.T) {
	t.Parallel()
	env := []string{testHelperEnv + "=touch-exit"}
	for _, tc := range []struct {
		name     string
		code     string
		sleep    string
		want     int
		stderrRe string
	}{
		{"hook then wait", "0", "0s", exitcode.OK, `(?s)touch-exit ran\n.*podseq: ready after`},
		{"hook fails: no wait", "3", "0s", 3, `touch-exit ran\npodseq wait: --command-first \S+ \S+ 3 0s exited 3: not waiting\n$`},
		{"hook runs past --timeout", "0", "5s", exitcode.NotReady, `podseq wait: not ready after 300ms: --command-first .* still running\n$`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			file := filepath.Join(t.TempDir(), "ready")
			timeout := "20s"
			if tc.want == exitcode.NotReady {
				timeout = "300ms"
			}
			p := startPodseq(t, env, "wait", "--command-first", "--timeout="+timeout, "file://"+file, "--", os.Args[0], file, tc.code, tc.sleep)
			code, stderr := p.wait(t)
			if code != tc.want || !regexp.MustCompile(tc.stderrRe).MatchString(stderr) {
				t.Errorf("exit %d, stderr:\n%s\nwant %d and %s", code, stderr, tc.want, tc.stderrRe)
			}
		})
	}
	for _, args := range [][]string{
		{"wait", "--command-first", "tcp://" + listening(t)},
		{"wait", "--command-first", "--shutdown", "tcp://" + listening(t), "--", "true"},
	} {
		if code, _, stderr := runInProcess(args...); code != exitcode.Usage || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "--command-first") {
			t.Errorf("%q: exit %d, stderr %q; want 2 and one line", args, code, stderr)
		}
	}
}
