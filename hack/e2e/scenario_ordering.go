package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/podseq/podseq/hack/e2e/internal/node"
	"github.com/podseq/podseq/hack/e2e/internal/proc"
	corev1 "k8s.io/api/core/v1"
)

// The manifests of manifests/ordering: birth and death order through
// tombstones. Each scenario swaps the pod's graveyard emptyDir for a hostPath
// in the pod's output directory, so that the harness reads the tombstones
// (and their times) from the host; the containers see the same shared
// directory either way.

func init() {
	register(Scenario{
		Name: "ordering-job",
		Shows: "manifests/ordering/job.yaml: the app waits for the proxy's tombstone (--birth-deps), exits 0; " +
			"the proxy's podseq run sees app: died and stops httpd (--death-deps): the pod reaches Succeeded",
		Run: orderingJob,
	})
	register(Scenario{
		Name: "ordering-drain",
		Shows: "manifests/ordering/drain.yaml: on pod deletion every container gets SIGTERM; the proxy holds it " +
			"back (--outlive app) and dies after the app, whose drain requests all go through",
		Run: orderingDrain,
	})
	register(Scenario{
		Name: "ordering-birth-deps",
		Shows: "manifests/ordering/birth-deps.yaml: the app, listed first, is born only after db and cache, " +
			"listed after it, are ready (--birth-deps db,cache)",
		Run: orderingBirthDeps,
	})
}

// orderingPod loads manifests/ordering/FILE and points its graveyard volume
// to a host directory; it returns the pod and that directory.
func orderingPod(t *T, file, kind, name string) (*PodBuilder, string, error) {
	return graveyardPod(t, "ordering/"+file, kind, name)
}

// graveyardPod loads manifests/REL and points its graveyard volume to a host
// directory; it returns the pod and that directory.
func graveyardPod(t *T, rel, kind, name string) (*PodBuilder, string, error) {
	spec, file, err := t.LoadPodSpec(rel, kind)
	if err != nil {
		return nil, "", err
	}
	t.Figure("pod", "manifests/%s", file)
	b, err := t.NewPod(name, spec)
	if err != nil {
		return nil, "", err
	}
	dir, err := graveyardOnHost(b, "graveyard")
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", file, err)
	}
	return b, dir, nil
}

// graveyardOnHost points the pod's graveyard volume to a fresh directory of
// its output directory, and returns that directory.
func graveyardOnHost(b *PodBuilder, volume string) (string, error) {
	dir := b.Out("graveyard")
	if err := os.Mkdir(dir, 0o777); err != nil {
		return "", err
	}
	if err := os.Chmod(dir, 0o777); err != nil { // umask; the containers are not root
		return "", err
	}
	for i := range b.Spec.Volumes {
		if v := &b.Spec.Volumes[i]; v.Name == volume {
			v.VolumeSource = corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: dir}}
			return dir, nil
		}
	}
	return "", fmt.Errorf("no volume named %s", volume)
}

// jobSucceeded waits until the pod of a Job has finished, and checks that
// it Succeeded.
func jobSucceeded(t *T, b *PodBuilder) error {
	var phase corev1.PodPhase
	err := proc.Poll(t.Ctx, 90*time.Second, 100*time.Millisecond, func() error {
		p, err := t.Node.Pod(t.Ctx, b.Name)
		if err != nil || p == nil {
			return fmt.Errorf("pod not listed yet (%v)", err)
		}
		phase = p.Status.Phase
		if phase == corev1.PodSucceeded || phase == corev1.PodFailed {
			return nil
		}
		return fmt.Errorf("phase %s", phase)
	})
	if err != nil {
		return fmt.Errorf("the Job's pod did not finish: %w; %s", err, podDiag(t, b))
	}
	if phase != corev1.PodSucceeded {
		return fmt.Errorf("the Job's pod is %s, want Succeeded; %s", phase, podDiag(t, b))
	}
	t.Figure("phase", "%s", phase)
	return nil
}

// birthAndDeath checks that app was born after proxy was ready, exited 0,
// and that proxy died after it.
func birthAndDeath(dir string) (app, proxy *grave, err error) {
	if app, err = readGrave(dir, "app"); err != nil {
		return nil, nil, err
	}
	if proxy, err = readGrave(dir, "proxy"); err != nil {
		return nil, nil, err
	}
	switch {
	case app.state != "died" || app.exitCode != "0":
		return nil, nil, fmt.Errorf("app's tombstone: %+v, want died with exit code 0", app)
	case proxy.state != "died":
		return nil, nil, fmt.Errorf("proxy's tombstone: %+v, want died", proxy)
	case app.born.Before(proxy.ready):
		return nil, nil, fmt.Errorf("app born %s before the proxy was ready %s", app.born, proxy.ready)
	case proxy.died.Before(app.died):
		return nil, nil, fmt.Errorf("proxy died %s before the app %s", proxy.died, app.died)
	}
	return app, proxy, nil
}

// grave is what the scenarios read of a tombstone: its state and times.
type grave struct {
	state             string
	waiting           time.Time // when its podseq run started
	born, ready, died time.Time
	skipped           time.Time // a step's (manifests/steps)
	exitCode          string
}

// readGrave reads GRAVEYARD/NAME. It checks the header and reads the
// "key: value" lines of the tombstone format (docs/tombstone-format.md), enough for the scenarios; the
// tombstone package's own tests cover the format.
func readGrave(dir, name string) (*grave, error) {
	data, err := os.ReadFile(dir + "/" + name)
	if err != nil {
		return nil, err
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(lines) == 0 || lines[0] != "podseq-tombstone v1" {
		return nil, fmt.Errorf("tombstone %s: header %q", name, lines[0])
	}
	g := &grave{}
	for _, l := range lines[1:] {
		k, v, _ := strings.Cut(l, ": ")
		var tm *time.Time
		switch k {
		case "state":
			g.state = v
		case "exit-code":
			g.exitCode = v
		case "waiting":
			tm = &g.waiting
		case "born":
			tm = &g.born
		case "ready":
			tm = &g.ready
		case "died":
			tm = &g.died
		case "skipped":
			tm = &g.skipped
		}
		if tm != nil {
			if *tm, err = time.Parse(time.RFC3339Nano, v); err != nil {
				return nil, fmt.Errorf("tombstone %s: %s: %w", name, k, err)
			}
		}
	}
	return g, nil
}

// waitGraves polls until ok holds on the named tombstones.
func waitGraves(t *T, dir string, limit time.Duration, what string, ok func(g map[string]*grave) bool, names ...string) (map[string]*grave, error) {
	var gs map[string]*grave
	err := proc.Poll(t.Ctx, limit, 50*time.Millisecond, func() error {
		gs = map[string]*grave{}
		for _, n := range names {
			g, err := readGrave(dir, n)
			if err != nil {
				return err
			}
			gs[n] = g
		}
		if !ok(gs) {
			return fmt.Errorf("not yet: %s", what)
		}
		return nil
	})
	return gs, err
}

// podDiag describes the pod's containers for an error message.
func podDiag(t *T, b *PodBuilder) string {
	p, err := t.Node.Pod(t.Ctx, b.Name)
	if err != nil || p == nil {
		return fmt.Sprintf("pod not found (%v)", err)
	}
	return node.DescribePod(p)
}

func orderingJob(t *T) error {
	b, dir, err := orderingPod(t, "job.yaml", "Job", "ordering-job")
	if err != nil {
		return err
	}
	app, proxy, err := runJob(t, b, dir)
	if err != nil {
		return err
	}
	t.Figure("app died→proxy's httpd died", "%s", ms(proxy.died.Sub(app.died)))
	return nil
}

// runJob starts the pod of a Job whose tombstones are in dir, waits until it
// Succeeded, and checks the birth and death order of its app and proxy.
func runJob(t *T, b *PodBuilder, dir string) (app, proxy *grave, err error) {
	if err := b.Start(); err != nil {
		return nil, nil, err
	}
	defer t.Stop(b)
	if err := jobSucceeded(t, b); err != nil {
		return nil, nil, err
	}
	if app, proxy, err = birthAndDeath(dir); err != nil {
		return nil, nil, err
	}
	t.Figure("proxy ready→app born", "%s", ms(app.born.Sub(proxy.ready)))
	return app, proxy, nil
}

func orderingDrain(t *T) error {
	b, dir, err := orderingPod(t, "drain.yaml", "Deployment", "ordering-drain")
	if err != nil {
		return err
	}
	// The harness shortens every grace period to 2s; this scenario is about
	// what happens within it, so give it the manifest's.
	grace := int64(45)
	b.Spec.TerminationGracePeriodSeconds = &grace
	app, err := b.Container("app")
	if err != nil {
		return err
	}
	// Stamp every request the app makes through the proxy.
	script := &app.Command[len(app.Command)-1]
	ok, failed := `&& echo "app: $1 ok"`, `|| echo "app: $1 FAILED"`
	if !strings.Contains(*script, ok) || !strings.Contains(*script, failed) {
		return fmt.Errorf("drain.yaml: the app's script has no %q and %q to stamp", ok, failed)
	}
	*script = strings.Replace(*script, ok, "&& "+Stamp("req-ok")+" "+ok, 1)
	*script = strings.Replace(*script, failed, "|| { "+Stamp("req-failed")+"; echo \"app: $1 FAILED\"; }", 1)
	if err := b.Start(); err != nil {
		return err
	}
	if _, err := waitGraves(t, dir, 60*time.Second, "app and proxy ready", func(g map[string]*grave) bool {
		return g["app"].state == "ready" && g["proxy"].state == "ready"
	}, "app", "proxy"); err != nil {
		t.Stop(b)
		return fmt.Errorf("%w; %s", err, podDiag(t, b))
	}
	if _, err := t.WaitStamp(b, "req-ok", 10*time.Second); err != nil {
		t.Stop(b)
		return err
	}
	removed := time.Now()
	if err := t.Node.RemovePod(b.Name); err != nil {
		return err
	}
	if err := t.Node.WaitPodGone(t.Ctx, b.Name, 60*time.Second); err != nil {
		return err
	}
	gs, err := waitGraves(t, dir, 5*time.Second, "both died", func(g map[string]*grave) bool {
		return g["app"].state == "died" && g["proxy"].state == "died"
	}, "app", "proxy")
	if err != nil {
		return err
	}
	a, p := gs["app"], gs["proxy"]
	if !p.died.After(a.died) {
		return fmt.Errorf("proxy died %s, app died %s: the proxy must outlive the app", p.died, a.died)
	}
	if n := b.StampCount("req-failed"); n > 0 {
		return fmt.Errorf("%d of the app's requests through the proxy failed", n)
	}
	if n := b.StampCount("req-ok"); n < 4 {
		return fmt.Errorf("%d requests went through, want the first and 3 while draining", n)
	}
	t.Figure("deleted→app died", "%s", ms(a.died.Sub(removed)))
	t.Figure("app died→proxy died", "%s", ms(p.died.Sub(a.died)))
	t.Figure("requests through the proxy", "%d ok, 0 failed", b.StampCount("req-ok"))
	return nil
}

func orderingBirthDeps(t *T) error {
	b, dir, err := orderingPod(t, "birth-deps.yaml", "Deployment", "ordering-birth-deps")
	if err != nil {
		return err
	}
	if err := b.Start(); err != nil {
		return err
	}
	defer t.Stop(b)
	gs, err := waitGraves(t, dir, 60*time.Second, "app born", func(g map[string]*grave) bool {
		return !g["app"].born.IsZero()
	}, "app", "db", "cache")
	if err != nil {
		return fmt.Errorf("%w; %s", err, podDiag(t, b))
	}
	a := gs["app"]
	for _, dep := range []string{"db", "cache"} {
		d := gs[dep]
		if d.ready.IsZero() || a.born.Before(d.ready) {
			return fmt.Errorf("app born %s, before %s was ready (%v)", a.born, dep, d.ready)
		}
	}
	last := gs["db"].ready
	if gs["cache"].ready.After(last) {
		last = gs["cache"].ready
	}
	t.Figure("last dep ready→app born", "%s", ms(a.born.Sub(last)))
	t.Figure("db ready", "%s after cache", ms(gs["db"].ready.Sub(gs["cache"].ready)))
	return nil
}
