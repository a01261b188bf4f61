package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/podseq/podseq/hack/e2e/internal/cluster"
	"github.com/podseq/podseq/hack/e2e/internal/node"
)

// Scenario is one e2e case. Each lives in its own file (scenario_*.go) and
// registers itself from an init function; its Run function gets a T and
// returns an error when podseq or the kubelet did not behave as claimed.
type Scenario struct {
	Name string
	// Shows is one line for the summary and docs/e2e.md: what it proves.
	Shows string
	// Timed scenarios report latencies: they run one at a time after the
	// others, which run concurrently (each pod in its own netns).
	Timed bool
	// Bench scenarios are timed comparisons that prove no behaviour the
	// others do not: they run with -bench (make e2e-bench) or when -run
	// names them, not in make e2e.
	Bench bool
	// Alone scenarios disturb the whole node (they restart the kubelet): they
	// run one at a time after the concurrent ones, before the timed ones.
	Alone bool
	// Cluster scenarios need the API server (-cluster); they run beside
	// the concurrent ones.
	Cluster bool
	// MinMinor is the oldest Kubernetes 1.x minor version whose kubelet has
	// what the scenario needs (29: native sidecars, on by default from
	// v1.29); 0 for any. On an older kubelet it is not run, and reported
	// not applicable.
	MinMinor int
	Run      func(t *T) error
}

// appliesTo reports whether s can run on a kubelet of the given minor version.
func (s Scenario) appliesTo(minor int) bool { return s.MinMinor <= minor }

// needs is what the summary says of a scenario or variant that does not
// apply to the kubelet: n/a (needs v1.29+).
func needs(minMinor int) string { return fmt.Sprintf("n/a (needs v1.%d+)", minMinor) }

// nativeSidecarsSince is the minor version from which kubelets run native
// sidecars (restartable init containers) by default: the SidecarContainers
// feature gate is alpha in v1.28 and beta, on by default, in v1.29.
const nativeSidecarsSince = 29

// registry is filled by init functions only, read-only afterwards.
var registry []Scenario

func register(s Scenario) { registry = append(registry, s) }

// scenarios returns the registered scenarios in name order: the concurrent
// ones, then those that run alone, then the timed ones.
func scenarios() []Scenario {
	s := append([]Scenario(nil), registry...)
	rank := func(x Scenario) int {
		switch {
		case x.Timed:
			return 2
		case x.Alone:
			return 1
		}
		return 0
	}
	sort.SliceStable(s, func(i, j int) bool {
		if rank(s[i]) != rank(s[j]) {
			return rank(s[i]) < rank(s[j])
		}
		return s[i].Name < s[j].Name
	})
	return s
}

// sequential reports whether s runs on its own (Timed or Alone).
func (s Scenario) sequential() bool { return s.Timed || s.Alone }

// Env is what every scenario shares: the node and the images on it.
type Env struct {
	Repo         string // the podseq checkout
	Node         *node.Node
	PodseqImage  string           // the image from make image-tar
	BusyboxImage string           // static busybox, for "plain" app containers
	Runs         int              // repetitions of timed measurements
	Cluster      *cluster.Cluster // the control plane, nil without -cluster
	AppImage     string           // an app with ENTRYPOINT and CMD, for pods whose manifest gives no command
	AppImageTar  string           // its docker-archive tarball
}

// T is a scenario's handle: context, logging, and the figures it reports.
type T struct {
	*Env
	Ctx     context.Context
	Name    string
	mu      sync.Mutex
	figures []Figure
	tables  []string
	logs    []string
	// lastStatus holds each stopped pod's status, printed on failure.
	lastStatus []string
}

// Logf records a progress line (printed with the scenario's name).
func (t *T) Logf(format string, args ...any) {
	line := fmt.Sprintf("[%s] %s", t.Name, fmt.Sprintf(format, args...))
	fmt.Printf("%s %s\n", time.Now().Format("15:04:05.000"), line)
	t.mu.Lock()
	t.logs = append(t.logs, line)
	t.mu.Unlock()
}

// Figure is one fact a scenario reports: "hook ran" "5010 ms".
type Figure struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// String is the figure as the summary prints it: "hook ran 5010 ms".
func (f Figure) String() string { return f.Name + " " + f.Value }

// Figure records one "name value" fact for the summary.
func (t *T) Figure(name string, format string, args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.figures = append(t.figures, Figure{Name: name, Value: fmt.Sprintf(format, args...)})
}

// Table adds a block of text printed under the summary.
func (t *T) Table(text string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.tables = append(t.tables, text)
}

// Result is a finished scenario, or one not run because it does not apply
// to the kubelet (NotApplicable says why: "n/a (needs v1.29+)").
type Result struct {
	Scenario      Scenario
	Err           error
	NotApplicable string
	Took          time.Duration
	Figures       []Figure
	Tables        []string
}

// Status is the result's word in the summary: PASS, FAIL or n/a (needs
// v1.N+).
func (r Result) Status() string {
	switch {
	case r.Err != nil:
		return "FAIL"
	case r.NotApplicable != "":
		return r.NotApplicable
	}
	return "PASS"
}

// runScenario runs s with a fresh T, recovering a panic into a failure.
func runScenario(ctx context.Context, env *Env, s Scenario) (r Result) {
	t := &T{Env: env, Ctx: ctx, Name: s.Name}
	start := time.Now()
	defer func() {
		if p := recover(); p != nil {
			r.Err = fmt.Errorf("panic: %v", p)
		}
		r.Scenario, r.Took, r.Figures, r.Tables = s, time.Since(start), t.figures, t.tables
		status := "PASS"
		if r.Err != nil {
			status = "FAIL: " + r.Err.Error()
			t.mu.Lock()
			last := append([]string(nil), t.lastStatus...)
			t.mu.Unlock()
			for _, st := range last {
				t.Logf("pod status before it was removed:\n%s", st)
			}
		}
		t.Logf("%s (%s)", status, r.Took.Round(100*time.Millisecond))
	}()
	return Result{Err: s.Run(t)}
}

// summary renders the results as a markdown table plus each scenario's
// extra tables, and ends with a line per failed scenario: a CI log often
// shows only its last lines.
func summary(results []Result, setup, total time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "| scenario | result | time | figures |\n|---|---|---|---|\n")
	for _, r := range results {
		res := r.Status()
		if r.Err != nil {
			res = "**FAIL**"
		}
		var figList []string
		for _, f := range r.Figures {
			figList = append(figList, f.String())
		}
		figs := strings.Join(figList, "; ")
		if r.Err != nil {
			figs = strings.ReplaceAll(r.Err.Error(), "|", "/") + "; " + figs
		}
		took := fmt.Sprintf("%.1f s", r.Took.Seconds())
		if r.NotApplicable != "" {
			took = "-"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", r.Scenario.Name, res, took, figs)
	}
	fmt.Fprintf(&b, "\nsetup (images, containerd, kubelet) %.1f s; whole run %.1f s\n", setup.Seconds(), total.Seconds())
	for _, r := range results {
		for _, tb := range r.Tables {
			b.WriteString("\n" + tb)
		}
	}
	var failed []string
	for _, r := range results {
		if r.Err != nil {
			failed = append(failed, fmt.Sprintf("FAIL %s: %v\n", r.Scenario.Name, r.Err))
		}
	}
	if len(failed) > 0 {
		fmt.Fprintf(&b, "\n%d of %d scenarios failed:\n%s", len(failed), len(results), strings.Join(failed, ""))
	}
	return b.String()
}

// median of durations (0 for none).
func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
