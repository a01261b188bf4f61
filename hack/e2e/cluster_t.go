package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/podseq/podseq/hack/e2e/internal/node"
	"github.com/podseq/podseq/hack/e2e/internal/proc"
	corev1 "k8s.io/api/core/v1"
)

// What the cluster scenarios share: kubectl as the cluster admin, namespaces,
// folders of manifests/ applied as users apply them, and container logs
// with the runtime's timestamps (nanoseconds, where the API's times are
// whole seconds).

// Kubectl runs kubectl as the cluster admin.
func (t *T) Kubectl(args ...string) (string, error) {
	if t.Cluster == nil {
		return "", errors.New("no cluster (-cluster)")
	}
	return t.Cluster.Kubectl(t.Ctx, args...)
}

// Namespace creates the namespace e2e-NAME, labelled to enforce (and warn
// about) Pod Security restricted when restricted is set, and returns it.
func (t *T) Namespace(name string, restricted bool) (string, error) {
	ns := "e2e-" + name
	if _, err := t.Kubectl("create", "namespace", ns); err != nil {
		return "", err
	}
	if restricted {
		if _, err := t.Kubectl("label", "namespace", ns,
			"pod-security.kubernetes.io/enforce=restricted", "pod-security.kubernetes.io/warn=restricted"); err != nil {
			return "", err
		}
	}
	// Pods need the namespace's default service account, which the
	// controller manager makes a moment after the namespace.
	return ns, proc.Poll(t.Ctx, 30*time.Second, 100*time.Millisecond, func() error {
		_, err := t.Kubectl("get", "serviceaccount", "default", "-n", ns)
		return err
	})
}

// applied is one object kubectl apply made, as kind/name.
type applied struct{ kind, name string }

// ApplyFolder applies manifests/FOLDER to ns as its README says: `kubectl
// apply -k` unchanged, except for the inject folder, whose objects go
// through `podseq inject` first. A Pod Security warning fails it: the
// namespace enforces restricted, so a workload that warns would never get
// its pods.
func (t *T) ApplyFolder(folder, ns string) ([]applied, error) {
	dir := filepath.Join(t.Repo, "manifests", folder)
	var cmd *exec.Cmd
	if folder == "inject" {
		podseq := filepath.Join(t.Repo, "bin", "podseq")
		// --image: the image the node has, as a user names their registry's copy.
		script := fmt.Sprintf("set -o pipefail; %q kustomize %q | %q inject --image=%q -f - | %q --kubeconfig=%q apply -n %q -o name -f -",
			t.Cluster.Bin["kubectl"], dir, podseq, t.PodseqImage, t.Cluster.Bin["kubectl"], t.Cluster.AdminKubeconfig(), ns)
		cmd = exec.CommandContext(t.Ctx, "bash", "-c", script)
	} else {
		cmd = t.Cluster.KubectlCmd(t.Ctx, "apply", "-k", dir, "-n", ns, "-o", "name")
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("apply manifests/%s: %w: %s", folder, err, strings.TrimSpace(stderr.String()))
	}
	if w := stderr.String(); strings.Contains(w, "PodSecurity") || strings.Contains(w, "would violate") {
		return nil, fmt.Errorf("apply manifests/%s: Pod Security restricted warns: %s", folder, strings.TrimSpace(w))
	}
	var objs []applied
	for _, line := range strings.Fields(string(out)) {
		kind, name, ok := strings.Cut(line, "/")
		if !ok {
			return nil, fmt.Errorf("apply manifests/%s: unexpected output %q", folder, line)
		}
		objs = append(objs, applied{kind: kind, name: name})
	}
	if len(objs) == 0 {
		return nil, fmt.Errorf("apply manifests/%s: no objects", folder)
	}
	return objs, nil
}

// documentedState waits until obj reaches the state its kind promises: a
// Deployment's or a StatefulSet's rollout done, a Job Complete, a Pod Ready.
// It returns that state's name ("" for kinds with none, such as a Service).
func (t *T) documentedState(ns string, obj applied, limit time.Duration) (string, error) {
	if check, ok := ownStates[obj.kind+"/"+obj.name]; ok {
		return check(t, ns, limit)
	}
	timeout := fmt.Sprintf("--timeout=%ds", int(limit.Seconds()))
	var state string
	var args []string
	switch obj.kind {
	case "deployment.apps", "statefulset.apps":
		state, args = "rolled out", []string{"rollout", "status", "-n", ns, timeout, obj.kind + "/" + obj.name}
	case "job.batch":
		state, args = "Complete", []string{"wait", "-n", ns, timeout, "--for=condition=Complete", "job/" + obj.name}
	case "pod":
		state, args = "Ready", []string{"wait", "-n", ns, timeout, "--for=condition=Ready", "pod/" + obj.name}
	default:
		return "", nil
	}
	if _, err := t.Kubectl(args...); err != nil {
		return "", fmt.Errorf("%s/%s never %s: %w", obj.kind, obj.name, state, err)
	}
	return state, nil
}

// ownStates are the objects whose comments promise another state than their
// kind's.
var ownStates = map[string]func(t *T, ns string, limit time.Duration) (string, error){
	// A Deployment whose pod never turns Ready: its one-shot smoke test
	// stays terminated, with its result as the termination message, while
	// the app serves on.
	"deployment.apps/podseq-steps-smoke-test": func(t *T, ns string, limit time.Duration) (string, error) {
		const state = "smoke-test terminated 0 \"smoke-test: succeeded…\", app ready"
		err := proc.Poll(t.Ctx, limit, time.Second, func() error {
			pods, err := t.Pods(ns, "app.kubernetes.io/name=podseq-steps-smoke-test")
			if err != nil {
				return err
			}
			if len(pods) != 1 {
				return fmt.Errorf("%d pods", len(pods))
			}
			var smoke, app bool
			for _, c := range pods[0].Status.ContainerStatuses {
				switch {
				case c.Name == "smoke-test" && c.State.Terminated != nil:
					if c.State.Terminated.ExitCode != 0 || !strings.HasPrefix(c.State.Terminated.Message, "smoke-test: succeeded") {
						return fmt.Errorf("smoke-test exited %d: %q", c.State.Terminated.ExitCode, c.State.Terminated.Message)
					}
					smoke = c.RestartCount == 0
				case c.Name == "app":
					app = c.Ready
				}
			}
			if !smoke || !app {
				return fmt.Errorf("smoke-test done=%t, app ready=%t", smoke, app)
			}
			return nil
		})
		if err != nil {
			return "", fmt.Errorf("deployment.apps/podseq-steps-smoke-test never %s: %w", state, err)
		}
		return state, nil
	},
}

// ApplyAndSettle applies folder into a fresh restricted namespace, waits for
// every object's documented state (all at once), and reads every
// container's log through the API server. It returns the namespace and one
// line per object for the summary.
func (t *T) ApplyAndSettle(folder string, limit time.Duration) (string, []string, error) {
	ns, err := t.Namespace(strings.ReplaceAll(folder, "/", "-"), true)
	if err != nil {
		return "", nil, err
	}
	objs, err := t.ApplyFolder(folder, ns)
	if err != nil {
		return ns, nil, err
	}
	lines := make([]string, len(objs))
	errs := make([]error, len(objs))
	var wg sync.WaitGroup
	for i, o := range objs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			state, err := t.documentedState(ns, o, limit)
			errs[i] = err
			if state != "" {
				lines[i] = fmt.Sprintf("%s %s/%s %s", folder, o.kind, o.name, state)
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.describeNamespace(ns)
		return ns, nil, fmt.Errorf("manifests/%s: %w", folder, err)
	}
	pods, err := t.Pods(ns, "")
	if err != nil {
		return ns, nil, err
	}
	logs := 0
	for _, p := range pods {
		for _, c := range append(append([]corev1.Container{}, p.Spec.InitContainers...), p.Spec.Containers...) {
			if _, err := t.kubectlRead("logs", "-n", ns, p.Name, "-c", c.Name); err != nil {
				return ns, nil, fmt.Errorf("manifests/%s: kubectl logs %s -c %s: %w", folder, p.Name, c.Name, err)
			}
			logs++
		}
	}
	var out []string
	for _, l := range lines {
		if l != "" {
			out = append(out, l)
		}
	}
	out = append(out, fmt.Sprintf("%s: kubectl logs of all %d containers", folder, logs))
	return ns, out, nil
}

// describeNamespace logs what a user would look at when a folder did not
// settle: the pods, their containers' states and the namespace's events.
func (t *T) describeNamespace(ns string) {
	if out, err := t.Kubectl("get", "pods,jobs,deployments,statefulsets", "-n", ns, "-o", "wide"); err == nil {
		t.Logf("kubectl get -n %s:\n%s", ns, out)
	}
	if pods, err := t.Pods(ns, ""); err == nil {
		for i := range pods {
			t.Logf("%s", node.DescribePod(&pods[i]))
		}
	}
	if out, err := t.Kubectl("get", "events", "-n", ns, "--sort-by=.lastTimestamp"); err == nil {
		t.Logf("events in %s:\n%s", ns, out)
	}
}

// kubectlRead runs a kubectl call that only reads, again for up to 30 s
// while it fails: on 2 cores beside thirty scenarios the API server, or the
// kubelet behind kubectl logs, can fail a call that the next one answers.
func (t *T) kubectlRead(args ...string) (string, error) {
	var out string
	err := proc.Poll(t.Ctx, 30*time.Second, 500*time.Millisecond, func() error {
		var err error
		out, err = t.Kubectl(args...)
		return err
	})
	return out, err
}

// Pods lists the pods of ns matching the label selector ("" for all).
func (t *T) Pods(ns, selector string) ([]corev1.Pod, error) {
	args := []string{"get", "pods", "-n", ns, "-o", "json"}
	if selector != "" {
		args = append(args, "-l", selector)
	}
	out, err := t.kubectlRead(args...)
	if err != nil {
		return nil, err
	}
	var list corev1.PodList
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		return nil, fmt.Errorf("decode pods of %s: %w", ns, err)
	}
	sort.Slice(list.Items, func(i, j int) bool { return list.Items[i].Name < list.Items[j].Name })
	return list.Items, nil
}

// CreatePod creates pod in ns.
func (t *T) CreatePod(ns string, pod *corev1.Pod) error {
	pod.APIVersion, pod.Kind = "v1", "Pod"
	b, err := json.Marshal(pod)
	if err != nil {
		return err
	}
	cmd := t.Cluster.KubectlCmd(t.Ctx, "create", "-n", ns, "-f", "-")
	cmd.Stdin = strings.NewReader(string(b))
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("create pod %s: %w: %s", pod.Name, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Watch runs kubectl ARGS --watch and calls onLine with each line it prints
// and when it came, from a goroutine of its own, until stop.
func (t *T) Watch(onLine func(line string, at time.Time), args ...string) (stop func(), err error) {
	cmd := t.Cluster.KubectlCmd(t.Ctx, append(args, "--watch")...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("kubectl %s --watch: %w", strings.Join(args, " "), err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			onLine(sc.Text(), time.Now())
		}
	}()
	return func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }, nil
}

// Logs returns container c's log lines of pod in ns with their timestamps
// (kubectl logs --timestamps).
func (t *T) Logs(ns, pod, c string) ([]node.LogLine, error) {
	out, err := t.kubectlRead("logs", "-n", ns, pod, "-c", c, "--timestamps")
	if err != nil {
		return nil, err
	}
	var lines []node.LogLine
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		ts, text, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		at, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			return nil, fmt.Errorf("log line of %s/%s %q: %w", pod, c, sc.Text(), err)
		}
		lines = append(lines, node.LogLine{At: at, Text: text})
	}
	return lines, nil
}

// LogLine returns the first line of container c of pod that contains every
// one of want.
func (t *T) LogLine(ns, pod, c string, want ...string) (node.LogLine, error) {
	lines, err := t.Logs(ns, pod, c)
	if err != nil {
		return node.LogLine{}, err
	}
	if l, ok := firstLine(lines, want...); ok {
		return l, nil
	}
	return node.LogLine{}, fmt.Errorf("no line with %q in the log of %s -c %s (%d lines)", want, pod, c, len(lines))
}

// firstLine returns the first of lines that contains every one of want.
func firstLine(lines []node.LogLine, want ...string) (node.LogLine, bool) {
next:
	for _, l := range lines {
		for _, w := range want {
			if !strings.Contains(l.Text, w) {
				continue next
			}
		}
		return l, true
	}
	return node.LogLine{}, false
}

// sandboxReady is when the CNI plugin finished setting up the pod's
// network: the stamp cni-ptp.sh wrote.
func (t *T) sandboxReady(ns, pod string) (time.Time, error) {
	ts, err := readStamps(filepath.Join(t.Node.Dir, "cni", "stamps", ns+"_"+pod))
	if err != nil {
		return time.Time{}, fmt.Errorf("sandbox stamp of %s: %w", pod, err)
	}
	if len(ts) == 0 {
		return time.Time{}, fmt.Errorf("sandbox stamp of %s: empty", pod)
	}
	return ts[0], nil
}
