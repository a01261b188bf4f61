package main

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/podseq/podseq/hack/e2e/internal/node"
)

// The cluster scenarios: what podseq promises that only an API server
// shows. Each folder of manifests/ is applied exactly once, by the scenario
// that asserts its comments' promises, in a namespace of its own that
// enforces Pod Security restricted.

// folderScenarios are the folders with a scenario of their own; the rest
// are applied by cluster-manifests.
var folderScenarios = map[string]string{
	"demo":        "cluster-demo",
	"demo-push":   "cluster-demo",
	"statefulset": "cluster-statefulset",
	"init-wait":   "cluster-init-wait",
	"webhook":     "cluster-webhook",
}

func init() {
	register(Scenario{
		Name:    "cluster-manifests",
		Cluster: true,
		Shows: "every other folder of manifests/ (install, native-sidecar, ordering, static-pod, steps; inject through `podseq inject`) " +
			"applied with `kubectl apply -k` into a namespace enforcing Pod Security restricted: admitted without a warning, every " +
			"Deployment and StatefulSet rolled out, every Job (ordering/job among them) Complete, every Pod Ready, `kubectl logs` of every container",
		Run: clusterManifests,
	})
	register(Scenario{
		Name:    "cluster-demo",
		Cluster: true,
		Shows: "manifests/demo and demo-push through the API server: the app's first log line comes after the sidecar's " +
			"`ready`, by the runtime's log timestamps (figures beside the static-pod ones)",
		Run: clusterDemo,
	})
	register(Scenario{
		Name:    "cluster-statefulset",
		Cluster: true,
		Shows: "manifests/statefulset: peers-1 and peers-2 wait for peers-0 by its DNS name (headless Service, CoreDNS) " +
			"and their peers start only after peers-0's",
		Run: clusterStatefulSet,
	})
	register(Scenario{
		Name:    "cluster-init-wait",
		Cluster: true,
		Shows: "manifests/init-wait: web's init container waits for the db Service (DNS, a ClusterIP through kube-proxy) " +
			"and the app starts only after db answers",
		Run: clusterInitWait,
	})
}

// logSkew is how far apart the log timestamps of two containers can be
// from the order their lines were written in: the runtime stamps a line when
// it reads the container's output, and on a busy node one container's pipe
// is read tens of milliseconds after another's.
const logSkew = 250 * time.Millisecond

// earlier reports whether a was logged before b by more than logSkew: a
// line of one container that must come after a line of another.
func earlier(a, b node.LogLine) bool { return a.At.Add(logSkew).Before(b.At) }

// folders lists manifests/'s folders.
func (e *Env) folders() ([]string, error) {
	entries, err := os.ReadDir(e.Repo + "/manifests")
	if err != nil {
		return nil, err
	}
	var dirs []string
	for _, d := range entries {
		if d.IsDir() {
			dirs = append(dirs, d.Name())
		}
	}
	sort.Strings(dirs)
	return dirs, nil
}

func clusterManifests(t *T) error {
	dirs, err := t.folders()
	if err != nil {
		return err
	}
	type result struct {
		lines []string
		err   error
	}
	var todo []string
	for _, d := range dirs {
		if _, ok := folderScenarios[d]; !ok {
			todo = append(todo, d)
		}
	}
	results := make([]result, len(todo))
	done := make(chan int)
	for i, d := range todo {
		go func() {
			_, lines, err := t.ApplyAndSettle(d, 4*time.Minute)
			results[i] = result{lines, err}
			done <- i
		}()
	}
	for range todo {
		<-done
	}
	var errs []error
	var table strings.Builder
	table.WriteString("cluster-manifests: what each object of manifests/ reached\n\n")
	for i, d := range todo {
		if results[i].err != nil {
			errs = append(errs, results[i].err)
			continue
		}
		for _, l := range results[i].lines {
			table.WriteString("- " + l + "\n")
		}
		t.Figure(d, "%d objects settled", len(results[i].lines)-1)
	}
	t.Table(table.String())
	return errors.Join(errs...)
}

// clusterDemo applies demo and demo-push and measures, from the runtime's
// log timestamps, the sidecar's `ready` to the app's first line.
func clusterDemo(t *T) error {
	var errs []error
	for _, folder := range []string{"demo", "demo-push"} {
		ns, _, err := t.ApplyAndSettle(folder, 2*time.Minute)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		pods, err := t.Pods(ns, "")
		if err != nil {
			return err
		}
		if len(pods) != 1 {
			errs = append(errs, fmt.Errorf("%s: %d pods, want 1", folder, len(pods)))
			continue
		}
		p := pods[0].Name
		ready, err := t.LogLine(ns, p, "sidecar", "podseq: ready")
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", folder, err))
			continue
		}
		started, err := t.LogLine(ns, p, "app", "app: started at")
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", folder, err))
			continue
		}
		if earlier(started, ready) {
			errs = append(errs, fmt.Errorf("%s: the app started at %s, before the sidecar was ready at %s",
				folder, started.At.Format(time.RFC3339Nano), ready.At.Format(time.RFC3339Nano)))
			continue
		}
		t.Figure(folder+" sidecar ready→app log", "%s", ms(started.At.Sub(ready.At)))
		if answer, err := t.LogLine(ns, p, "app", "/ready says"); err != nil || !strings.HasSuffix(answer.Text, "/ready says: ready") {
			errs = append(errs, fmt.Errorf("%s: the app's first request to the sidecar did not find it ready: %v %q", folder, err, answer.Text))
		}
	}
	return errors.Join(errs...)
}

func clusterStatefulSet(t *T) error {
	ns, _, err := t.ApplyAndSettle("statefulset", 3*time.Minute)
	if err != nil {
		return err
	}
	first, err := t.LogLine(ns, "peers-0", "peer", "peers-0: joining at")
	if err != nil {
		return err
	}
	for _, p := range []string{"peers-1", "peers-2"} {
		waited, err := t.LogLine(ns, p, "wait-for-pod-0", "ready after")
		if err != nil {
			return err
		}
		if earlier(waited, first) {
			return fmt.Errorf("%s stopped waiting at %s, before peers-0 joined at %s", p,
				waited.At.Format(time.RFC3339Nano), first.At.Format(time.RFC3339Nano))
		}
		joined, err := t.LogLine(ns, p, "peer", p+": joining at")
		if err != nil {
			return err
		}
		if earlier(joined, first) {
			return fmt.Errorf("%s joined at %s, before peers-0 at %s", p,
				joined.At.Format(time.RFC3339Nano), first.At.Format(time.RFC3339Nano))
		}
		t.Figure(p+" joined after peers-0", "%s", ms(joined.At.Sub(first.At)))
	}
	return nil
}

func clusterInitWait(t *T) error {
	ns, _, err := t.ApplyAndSettle("init-wait", 3*time.Minute)
	if err != nil {
		return err
	}
	db, err := t.Pods(ns, "app.kubernetes.io/name=db")
	if err != nil || len(db) != 1 {
		return fmt.Errorf("db pods: %d, %v", len(db), err)
	}
	web, err := t.Pods(ns, "app.kubernetes.io/name=web")
	if err != nil || len(web) != 1 {
		return fmt.Errorf("web pods: %d, %v", len(web), err)
	}
	answers, err := t.LogLine(ns, db[0].Name, "db", "accepting connections")
	if err != nil {
		return err
	}
	waited, err := t.LogLine(ns, web[0].Name, "wait-for-db", "ready after")
	if err != nil {
		return err
	}
	lines, err := t.Logs(ns, web[0].Name, "web")
	if err != nil || len(lines) == 0 {
		return fmt.Errorf("web's log: %d lines, %v", len(lines), err)
	}
	if earlier(waited, answers) {
		return fmt.Errorf("web's wait ended at %s, before db accepted connections at %s",
			waited.At.Format(time.RFC3339Nano), answers.At.Format(time.RFC3339Nano))
	}
	if earlier(lines[0], waited) {
		return fmt.Errorf("web started at %s, before its wait for db ended at %s",
			lines[0].At.Format(time.RFC3339Nano), waited.At.Format(time.RFC3339Nano))
	}
	t.Figure("db answers→wait ends", "%s", ms(waited.At.Sub(answers.At)))
	t.Figure("wait ends→web starts", "%s", ms(lines[0].At.Sub(waited.At)))
	t.Figure("podseq wait", "%s", strings.TrimSpace(waited.Text))
	return nil
}
