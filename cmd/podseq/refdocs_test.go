package main

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The reference pages that are generated from the built binaries, never
// from this package's internals, so that moving a constant or a flag
// definition between packages changes nothing here; only what a user sees
// does. Regenerate them with
//
//	go test ./cmd/podseq -run TestDocsFromBinaries -update
const (
	exitCodesDocPath = "../../docs/exit-codes.md"
	metricsDocPath   = "../../docs/metrics.md"
	regenerateDocs   = "go test ./cmd/podseq -run TestDocsFromBinaries -update"
)

// TestDocsFromBinaries builds podseq and kubectl-podseq once and checks the
// documentation against them: docs/exit-codes.md is every command's --help
// EXIT CODES section, docs/metrics.md is what their /metrics serve, and every
// command and flag that README.md and docs/*.md show exists.
func TestDocsFromBinaries(t *testing.T) {
	if testing.Short() {
		t.Skip("builds both binaries")
	}
	bins := buildDocBinaries(t)
	t.Run("exit-codes", func(t *testing.T) {
		got, err := renderExitCodesDoc(bins)
		if err != nil {
			t.Fatal(err)
		}
		compareGenerated(t, exitCodesDocPath, got)
	})
	t.Run("metrics", func(t *testing.T) {
		run, err := scrapeRunMetrics(bins)
		if err != nil {
			t.Fatal(err)
		}
		hook, err := scrapeWebhookMetrics(bins)
		if err != nil {
			t.Fatal(err)
		}
		compareGenerated(t, metricsDocPath, renderMetricsDoc(run, hook))
	})
	t.Run("usages", func(t *testing.T) {
		files, err := filepath.Glob("../../docs/*.md")
		if err != nil {
			t.Fatal(err)
		}
		files = append([]string{"../../README.md"}, files...)
		cli := newCLIIndex(bins)
		n := 0
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			name := strings.TrimPrefix(f, "../../")
			for _, u := range docUsages(string(b)) {
				n++
				if err := cli.check(u); err != nil {
					t.Errorf("%s:%d: %s: %v", name, u.line, u.text, err)
				}
			}
		}
		if n < 100 {
			t.Errorf("found only %d usages of podseq and kubectl-podseq in the docs: the scanner is broken", n)
		}
	})
}

// docBinaries are the two built programs, side by side (podseq inject and
// podseq webhook run the kubectl-podseq next to podseq).
type docBinaries struct{ podseq, kubectlPodseq string }

func (b docBinaries) path(prog string) string {
	if prog == "kubectl-podseq" {
		return b.kubectlPodseq
	}
	return b.podseq
}

func buildDocBinaries(t *testing.T) docBinaries {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command("go", "build", "-trimpath", "-o", dir+string(filepath.Separator), "./cmd/podseq", "./cmd/kubectl-podseq")
	cmd.Dir = "../.."
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return docBinaries{filepath.Join(dir, "podseq"), filepath.Join(dir, "kubectl-podseq")}
}

// compareGenerated compares a generated page with the file, or writes it
// with -update.
func compareGenerated(t *testing.T, path string, got []byte) {
	t.Helper()
	name := strings.TrimPrefix(path, "../../")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (create it: %s)", err, regenerateDocs)
	}
	if !bytes.Equal(got, want) {
		n, w, g := firstDiffLines(string(want), string(got))
		t.Errorf("%s is out of date with the binaries; regenerate it: %s\nline %d:\n  %s: %q\n  binaries: %q", name, regenerateDocs, n, name, w, g)
	}
}

func firstDiffLines(want, got string) (int, string, string) {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < max(len(wl), len(gl)); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			return i + 1, w, g
		}
	}
	return 0, "", ""
}

// help runs PROG ARGS... --help and returns its standard output.
func (b docBinaries) help(prog string, args ...string) (string, error) {
	cmd := exec.Command(b.path(prog), append(slices.Clone(args), "--help")...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s %s --help: %v: %s", prog, strings.Join(args, " "), err, errb.String())
	}
	return out.String(), nil
}

// helpSection returns the lines of an upper-case section of --help output
// (COMMANDS:, OPTIONS:, EXIT CODES:), up to the next section at the same or
// a smaller indentation.
func helpSection(help, name string) []string {
	var lines []string
	in, indent := false, 0
	for _, l := range strings.Split(help, "\n") {
		trimmed := strings.TrimSpace(l)
		ind := len(l) - len(strings.TrimLeft(l, " "))
		if trimmed == name+":" {
			in, indent = true, ind
			continue
		}
		if !in {
			continue
		}
		if trimmed != "" && ind <= indent && sectionHeader.MatchString(trimmed) {
			break
		}
		lines = append(lines, l)
	}
	return lines
}

var sectionHeader = regexp.MustCompile(`^[A-Z][A-Z ()\-,./=:]*:$|^[A-Z][A-Z ]+\(`)

// subcommands lists the commands of a COMMANDS: section, without help.
func subcommands(help string) []string {
	var cmds []string
	for _, l := range helpSection(help, "COMMANDS") {
		f := strings.Fields(l)
		if len(f) == 0 {
			continue
		}
		name := strings.TrimSuffix(f[0], ",")
		if name == "help" {
			continue
		}
		cmds = append(cmds, name)
	}
	return cmds
}

// commandPath is a program and the words of one of its commands.
type commandPath struct {
	prog string
	args []string
}

func (c commandPath) String() string { return strings.Join(append([]string{c.prog}, c.args...), " ") }

// allCommands walks the command tree of a program through --help.
func (b docBinaries) allCommands(prog string) ([]commandPath, error) {
	var out []commandPath
	var walk func(args []string) error
	walk = func(args []string) error {
		h, err := b.help(prog, args...)
		if err != nil {
			return err
		}
		out = append(out, commandPath{prog, args})
		if len(args) > 0 && helpName(h) != (commandPath{prog, args}).String() {
			return nil // another program's command (podseq inject runs kubectl-podseq inject)
		}
		for _, c := range subcommands(h) {
			if err := walk(append(slices.Clone(args), c)); err != nil {
				return err
			}
		}
		return nil
	}
	return out, walk(nil)
}

// helpName is the program and command that --help names in its NAME section
// (podseq inject's help is kubectl-podseq inject's).
func helpName(help string) string {
	for _, l := range helpSection(help, "NAME") {
		if name, _, ok := strings.Cut(strings.TrimSpace(l), " - "); ok {
			return name
		}
	}
	return ""
}

// exitCodeLine is one code of an EXIT CODES section: the code and its
// meaning, or (code empty) a note that follows the table.
type exitCodeLine struct{ code, meaning string }

var exitCode = regexp.MustCompile(`^(\d+|N|\d+\+N)(?:\s+(.*))?$`)

// parseExitCodes reads an EXIT CODES section: each code at the section's
// indentation, its continuation lines indented further, and notes (lines at
// the code's indentation that start with no code).
func parseExitCodes(lines []string) ([]exitCodeLine, error) {
	var out []exitCodeLine
	indent := -1
	for _, l := range lines {
		trimmed := strings.TrimSpace(l)
		if trimmed == "" {
			continue
		}
		ind := len(l) - len(strings.TrimLeft(l, " "))
		if indent < 0 {
			indent = ind
		}
		switch m := exitCode.FindStringSubmatch(trimmed); {
		case ind > indent && len(out) > 0:
			out[len(out)-1].meaning += " " + trimmed
		case m != nil:
			out = append(out, exitCodeLine{m[1], m[2]})
		case ind == indent:
			out = append(out, exitCodeLine{"", trimmed})
		default:
			return nil, fmt.Errorf("cannot read the line %q", l)
		}
	}
	return out, nil
}

// renderExitCodesDoc renders docs/exit-codes.md from every command's --help.
func renderExitCodesDoc(b docBinaries) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString("# Exit codes\n\n")
	buf.WriteString("<!-- Generated from each command's --help (EXIT CODES) by `" + regenerateDocs + "`; do not edit. -->\n\n")
	buf.WriteString("Every command of `podseq` and `kubectl-podseq` gives each outcome its own exit code, and\n" +
		"its `--help` ends its description with them; this page is those sections. A code never\n" +
		"changes meaning between releases ([compatibility.md](compatibility.md)). The one line\n" +
		"podseq prints with a code, and where kubelet keeps it: [wait.md](wait.md),\n" +
		"[run.md](run.md), [ordering.md](ordering.md#exit-codes-and-messages),\n" +
		"[steps.md](steps.md), [troubleshooting.md](troubleshooting.md).\n")
	for _, prog := range []string{"podseq", "kubectl-podseq"} {
		cmds, err := b.allCommands(prog)
		if err != nil {
			return nil, err
		}
		for _, c := range cmds {
			if len(c.args) == 0 {
				continue
			}
			h, err := b.help(c.prog, c.args...)
			if err != nil {
				return nil, err
			}
			fmt.Fprintf(&buf, "\n## %s\n\n", c)
			if name := helpName(h); name != c.String() {
				fmt.Fprintf(&buf, "Runs `%s`, next to podseq or on `$PATH`: its codes, [below](#%s).\n", name, strings.ReplaceAll(name, " ", "-"))
				continue
			}
			sec := helpSection(h, "EXIT CODES")
			if len(sec) == 0 {
				return nil, fmt.Errorf("%s --help has no EXIT CODES section", c)
			}
			codes, err := parseExitCodes(sec)
			if err != nil {
				return nil, fmt.Errorf("%s --help: EXIT CODES: %w", c, err)
			}
			buf.WriteString("| Code | Meaning |\n| --- | --- |\n")
			var notes []string
			for _, e := range codes {
				if e.code == "" {
					notes = append(notes, e.meaning)
					continue
				}
				fmt.Fprintf(&buf, "| %s | %s |\n", e.code, cell(e.meaning))
			}
			for _, n := range notes {
				fmt.Fprintf(&buf, "\n%s\n", n)
			}
		}
	}
	return buf.Bytes(), nil
}

// metricFamily is one metric as its /metrics exposes it.
type metricFamily struct {
	name, typ, help string
	labels          map[string][]string // label name -> values seen
}

// parseMetrics reads the Prometheus text format. Histogram and summary
// series (_bucket, _sum, _count, le, quantile) fold into their family.
func parseMetrics(text string) (map[string]*metricFamily, error) {
	fams := map[string]*metricFamily{}
	get := func(name string) *metricFamily {
		if f, ok := fams[name]; ok {
			return f
		}
		f := &metricFamily{name: name, labels: map[string][]string{}}
		fams[name] = f
		return f
	}
	series := regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? `)
	label := regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		l := sc.Text()
		switch {
		case strings.HasPrefix(l, "# HELP "):
			f := strings.SplitN(strings.TrimPrefix(l, "# HELP "), " ", 2)
			if len(f) == 2 {
				get(f[0]).help = f[1]
			}
		case strings.HasPrefix(l, "# TYPE "):
			f := strings.Fields(strings.TrimPrefix(l, "# TYPE "))
			if len(f) == 2 {
				get(f[0]).typ = f[1]
			}
		case l == "" || strings.HasPrefix(l, "#"):
		default:
			m := series.FindStringSubmatch(l)
			if m == nil {
				return nil, fmt.Errorf("cannot read the series %q", l)
			}
			name := m[1]
			if _, ok := fams[name]; !ok {
				for _, suf := range []string{"_bucket", "_sum", "_count"} {
					if base, ok := strings.CutSuffix(name, suf); ok && fams[base] != nil {
						name = base
					}
				}
			}
			f := get(name)
			for _, lm := range label.FindAllStringSubmatch(m[2], -1) {
				if lm[1] == "le" || lm[1] == "quantile" {
					continue
				}
				if !slices.Contains(f.labels[lm[1]], lm[2]) {
					f.labels[lm[1]] = append(f.labels[lm[1]], lm[2])
				}
			}
		}
	}
	return fams, sc.Err()
}

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// scrape starts cmd and reads url until it answers 200, for at most 30 s.
func scrape(cmd *exec.Cmd, client *http.Client, url string) (string, error) {
	var errb bytes.Buffer
	cmd.Stderr = &errb
	// Its own process group, killed whole: podseq run's child goes too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		return "", err
	}
	defer func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := client.Get(url)
		if err == nil {
			body, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			if rerr == nil && resp.StatusCode == http.StatusOK {
				return string(body), nil
			}
			err = fmt.Errorf("%s: %s %v", url, resp.Status, rerr)
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("%v (stderr: %s)", err, errb.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// docProbeTarget is the --ready target of the podseq run whose metrics are
// read; its series show it as the label value, which the page calls TARGET.
const docProbeTarget = "file:///nonexistent/podseq-docs-ready"

// scrapeRunMetrics reads GET /metrics of a podseq run with one --ready
// target, supervising a second podseq run (a simulated sidecar).
func scrapeRunMetrics(b docBinaries) (map[string]*metricFamily, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(b.podseq, "run", "--listen", addr, "--ready", docProbeTarget,
		"--", b.podseq, "run", "--listen=none", "--ready-after=1h")
	cmd.Env = cleanPodseqEnv()
	text, err := scrape(cmd, http.DefaultClient, "http://"+addr+"/metrics")
	if err != nil {
		return nil, fmt.Errorf("podseq run: %w", err)
	}
	return parseMetrics(text)
}

// scrapeWebhookMetrics reads GET /metrics of kubectl-podseq webhook, serving
// a self-signed certificate.
func scrapeWebhookMetrics(b docBinaries) (map[string]*metricFamily, error) {
	dir, err := os.MkdirTemp("", "podseq-docs-tls-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	if err := writeSelfSigned(dir); err != nil {
		return nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(b.kubectlPodseq, "webhook", "--listen", addr, "--cert-dir", dir)
	cmd.Env = cleanPodseqEnv()
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	text, err := scrape(cmd, client, "https://"+addr+"/metrics")
	if err != nil {
		return nil, fmt.Errorf("kubectl-podseq webhook: %w", err)
	}
	return parseMetrics(text)
}

// cleanPodseqEnv is the environment without PODSEQ_* variables, which would
// change what the binaries do.
func cleanPodseqEnv() []string {
	return slices.DeleteFunc(os.Environ(), func(e string) bool { return strings.HasPrefix(e, "PODSEQ_") })
}

func writeSelfSigned(dir string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "podseq-docs"},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "tls.crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "tls.key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
}

// standardPrefixes are the client library's runtime and process metrics,
// listed once rather than one by one (they vary with the Go release).
var standardPrefixes = []string{"go_", "process_", "promhttp_"}

// renderMetricsDoc renders docs/metrics.md.
func renderMetricsDoc(run, hook map[string]*metricFamily) []byte {
	var buf bytes.Buffer
	buf.WriteString("# Metrics\n\n")
	buf.WriteString("<!-- Generated from what the binaries serve on GET /metrics by `" + regenerateDocs + "`; do not edit. -->\n\n")
	buf.WriteString("Both servers expose the Prometheus text format on a registry of their own. Every labelled\n" +
		"series with a fixed set of label values exists from the start, at 0. A metric's name, type\n" +
		"and labels keep their meaning across releases ([compatibility.md](compatibility.md)).\n")
	section := func(title, where string, fams map[string]*metricFamily) {
		fmt.Fprintf(&buf, "\n## %s\n\n%s\n\n", title, where)
		buf.WriteString("| Metric | Type | Labels | Meaning |\n| --- | --- | --- | --- |\n")
		var names []string
		var std []string
		for n := range fams {
			if slices.ContainsFunc(standardPrefixes, func(p string) bool { return strings.HasPrefix(n, p) }) {
				p, _, _ := strings.Cut(n, "_")
				if !slices.Contains(std, "`"+p+"_*`") {
					std = append(std, "`"+p+"_*`")
				}
				continue
			}
			names = append(names, n)
		}
		sort.Strings(names)
		sort.Strings(std)
		for _, n := range names {
			f := fams[n]
			var ls []string
			lnames := make([]string, 0, len(f.labels))
			for l := range f.labels {
				lnames = append(lnames, l)
			}
			sort.Strings(lnames)
			for _, l := range lnames {
				vals := slices.Clone(f.labels[l])
				if slices.Contains(vals, docProbeTarget) {
					ls = append(ls, "`"+l+"`: each `--ready` TARGET")
					continue
				}
				sort.Strings(vals)
				for i, v := range vals {
					vals[i] = "`" + v + "`"
				}
				ls = append(ls, "`"+l+"`: "+strings.Join(vals, ", "))
			}
			fmt.Fprintf(&buf, "| `%s` | %s | %s | %s |\n", n, f.typ, cell(strings.Join(ls, "; ")), cell(f.help))
		}
		if len(std) > 0 {
			fmt.Fprintf(&buf, "\nAlso the Go runtime's and the process's standard metrics of the Prometheus client library: %s.\n", strings.Join(std, ", "))
		}
	}
	section("podseq run", "`GET /metrics` on the admin server (`--listen`, default `:15780`; [admin-api.md](admin-api.md)).", run)
	section("kubectl-podseq webhook", "`GET /metrics` on the webhook's HTTPS port (`--listen`, default `:9443`; [webhook.md](webhook.md)).", hook)
	return buf.Bytes()
}
