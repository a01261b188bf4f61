package main

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/podseq/podseq/hack/e2e/internal/node"
	"github.com/podseq/podseq/hack/e2e/internal/proc"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func init() {
	register(Scenario{
		Name:    "cluster-pod-ip",
		Cluster: true,
		// The kubelet's status updates lag by seconds on a busy node: the
		// order of the IP and the hook is measured on an idle one.
		Timed: true,
		Shows: "time from the pod's network being set up (the CNI plugin's stamp) to status.podIP in the API server: " +
			"a pod with no hook; a podseq-gated sidecar (ready 3s after it starts), whose hook holds the IP back until it returns; " +
			"the same with a no-op init container, which publishes the IP before the hook ends (docs/troubleshooting.md, the pod IP deadlock)",
		Run: clusterPodIP,
	})
	register(Scenario{
		Name:    "cluster-never-ready",
		Cluster: true,
		Shows: "a sidecar that never turns ready, gated by `podseq wait --timeout=5s`: `kubectl describe pod` shows the " +
			"FailedPostStartHook event and podseq's failure line as the sidecar's Last State: Terminated, Message (podseq wait's " +
			"termination message; describe prints no waiting message, which holds the line only until the restart back-off)",
		Run: clusterNeverReady,
	})
}

// gatedSidecar is podseq run turning ready after readyAfter, with the
// postStart podseq wait of manifests/demo.
func gatedSidecar(t *T, readyAfter, hookTimeout string) corev1.Container {
	return corev1.Container{
		Name:            "sidecar",
		Image:           t.PodseqImage,
		ImagePullPolicy: corev1.PullIfNotPresent,
		Args:            []string{"run", "--ready-after=" + readyAfter},
		Lifecycle: &corev1.Lifecycle{PostStart: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{
			Command: []string{"/podseq", "wait", "--timeout=" + hookTimeout, "http://localhost:15780/ready"},
		}}},
	}
}

// sleeper is a busybox app that says it started and sleeps until SIGTERM.
func sleeper(name string) corev1.Container {
	return corev1.Container{Name: name, Image: manifestBusyboxImage, ImagePullPolicy: corev1.PullIfNotPresent,
		Command: []string{"sh", "-c", "echo " + name + " started; trap 'exit 0' TERM; while true; do sleep 1; done"}}
}

// podIPVariant is one kind of pod the pod-IP scenario measures.
type podIPVariant struct {
	name  string
	hook  bool // a podseq-gated sidecar first
	noop  bool // a no-op init container
	delay []time.Duration
	// beforeReady counts the rounds where the IP was published before the
	// sidecar was ready.
	beforeReady int
}

func clusterPodIP(t *T) error {
	ns, err := t.Namespace("pod-ip", false)
	if err != nil {
		return err
	}
	variants := []*podIPVariant{{name: "no hook"}, {name: "hook", hook: true}, {name: "hook + no-op init", hook: true, noop: true}}
	for round := 1; round <= t.Runs; round++ {
		errs := make([]error, len(variants))
		var wg sync.WaitGroup
		for i, v := range variants {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = measurePodIP(t, ns, v, round)
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return err
		}
	}
	var table strings.Builder
	table.WriteString("cluster-pod-ip: network set up → status.podIP published (median of rounds)\n\n| pod | median | rounds | IP before the sidecar was ready |\n|---|---|---|---|\n")
	for _, v := range variants {
		fmt.Fprintf(&table, "| %s | %s | %d | %s |\n", v.name, ms(median(v.delay)), len(v.delay),
			map[bool]string{true: fmt.Sprintf("%d of %d", v.beforeReady, len(v.delay)), false: "n/a"}[v.hook])
		t.Figure(v.name, "%s", ms(median(v.delay)))
	}
	t.Table(table.String())
	hook, noop := variants[1], variants[2]
	if hook.beforeReady != 0 {
		return fmt.Errorf("with a hook holding the pod, status.podIP was published before the hook returned in %d of %d rounds", hook.beforeReady, len(hook.delay))
	}
	if noop.beforeReady != len(noop.delay) {
		return fmt.Errorf("with a no-op init container, status.podIP was published before the hook returned in only %d of %d rounds", noop.beforeReady, len(noop.delay))
	}
	return nil
}

// measurePodIP creates one pod of variant v, watches for its IP, and
// records the delay from the CNI stamp.
func measurePodIP(t *T, ns string, v *podIPVariant, round int) error {
	name := fmt.Sprintf("ip-%s-%d", strings.NewReplacer(" ", "", "+", "", "-", "").Replace(v.name), round)
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PodSpec{TerminationGracePeriodSeconds: new(int64)}}
	if v.noop {
		pod.Spec.InitContainers = []corev1.Container{{Name: "publish-pod-ip", Image: t.PodseqImage,
			ImagePullPolicy: corev1.PullIfNotPresent, Args: []string{"--version"}}}
	}
	if v.hook {
		pod.Spec.Containers = append(pod.Spec.Containers, gatedSidecar(t, "3s", "30s"))
	}
	pod.Spec.Containers = append(pod.Spec.Containers, sleeper("app"))

	published := make(chan time.Time, 1)
	stop, err := t.Watch(func(line string, at time.Time) {
		if strings.TrimSpace(line) != "" {
			select {
			case published <- at:
			default: // the first one counts
			}
		}
	}, "get", "pods", "-n", ns, "--field-selector=metadata.name="+name, "-o", `jsonpath={.status.podIP}{"\n"}`)
	if err != nil {
		return err
	}
	defer stop()
	time.Sleep(300 * time.Millisecond) // the watch is established before the pod exists
	if err := t.CreatePod(ns, pod); err != nil {
		return err
	}
	defer func() { _, _ = t.Kubectl("delete", "pod", "-n", ns, name, "--wait=false") }()
	var at time.Time
	select {
	case at = <-published:
	case <-time.After(60 * time.Second):
		return fmt.Errorf("%s: status.podIP not published in 60s", name)
	case <-t.Ctx.Done():
		return t.Ctx.Err()
	}
	sandbox, err := t.sandboxReady(ns, name)
	if err != nil {
		return err
	}
	v.delay = append(v.delay, at.Sub(sandbox))
	if v.hook {
		// The sidecar's `ready` line: the hook returns right after it.
		var ready node.LogLine
		if err := proc.Poll(t.Ctx, 30*time.Second, 200*time.Millisecond, func() error {
			ready, err = t.LogLine(ns, name, "sidecar", "podseq: ready")
			return err
		}); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if at.Before(ready.At) {
			v.beforeReady++
		}
	}
	t.Logf("%s: IP published %s after the network was set up", name, ms(at.Sub(sandbox)))
	return nil
}

func clusterNeverReady(t *T) error {
	ns, err := t.Namespace("never-ready", false)
	if err != nil {
		return err
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "never-ready"}, Spec: corev1.PodSpec{
		TerminationGracePeriodSeconds: new(int64),
		Containers:                    []corev1.Container{gatedSidecar(t, "1h", "5s"), sleeper("app")},
	}}
	if err := t.CreatePod(ns, pod); err != nil {
		return err
	}
	const want = "podseq: not ready after 5s: http://localhost:15780/ready"
	// The sidecar's waiting state, as a watch sees every change of it: kubelet
	// shows the hook's message only between the kill and the next restart.
	var mu sync.Mutex
	var seen []string
	stop, err := t.Watch(func(line string, at time.Time) {
		mu.Lock()
		defer mu.Unlock()
		if l := strings.TrimSpace(line); l != "" && (len(seen) == 0 || seen[len(seen)-1] != l) {
			seen = append(seen, at.Format("15:04:05.000")+" "+l)
		}
	}, "get", "pod", "-n", ns, "never-ready", "-o",
		`jsonpath={.status.containerStatuses[?(@.name=="sidecar")].state.waiting.reason}{" "}{.status.containerStatuses[?(@.name=="sidecar")].state.waiting.message}{"\n"}`)
	if err != nil {
		return err
	}
	defer stop()
	var describe string
	err = proc.Poll(t.Ctx, 90*time.Second, 300*time.Millisecond, func() error {
		describe, err = t.Kubectl("describe", "pod", "-n", ns, "never-ready")
		if err != nil {
			return err
		}
		if !strings.Contains(describe, "FailedPostStartHook") {
			return errors.New("no FailedPostStartHook event yet")
		}
		if !strings.Contains(describe, want) {
			return fmt.Errorf("podseq's failure line %q not in kubectl describe yet", want)
		}
		return nil
	})
	mu.Lock()
	t.Logf("the sidecar's state.waiting, as watched:\n%s", strings.Join(seen, "\n"))
	mu.Unlock()
	if err != nil {
		t.Logf("kubectl describe pod:\n%s", describe)
		return err
	}
	var found bool
	for _, l := range strings.Split(describe, "\n") {
		if strings.Contains(l, want) {
			l = strings.Join(strings.Fields(l), " ")
			t.Figure("describe shows", "%q", l[:min(len(l), 120)])
			found = strings.HasPrefix(l, "Message: ")
			break
		}
	}
	if !found {
		t.Logf("kubectl describe pod:\n%s", describe)
		return errors.New("podseq's failure line is in kubectl describe, but not as the sidecar's Last State Message")
	}
	return nil
}
