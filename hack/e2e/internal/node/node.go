// Package node is the harness's node: containerd, runc and a kubelet that
// runs static pods from a manifest directory, with their configuration, the
// CNI plugin's, and a teardown that also undoes what a killed run left on
// the machine (processes, mounts, cgroups, sysctls, network namespaces).
package node

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/podseq/podseq/hack/e2e/internal/proc"
	corev1 "k8s.io/api/core/v1"
)

// Node is one kubelet + containerd pair that runs static pods from a
// manifest directory, with every path under Dir.
type Node struct {
	Dir     string // everything the node writes lives here
	Kubelet string // the kubelet binary
	Tools   string // host directory mounted read-only at /e2e in test pods
	// KubeletMinor is the kubelet's Kubernetes minor version (34 for
	// v1.34): its configuration leaves out what older kubelets lack.
	KubeletMinor int
	// Containerd and Ctr are containerd's daemon and CLI ("containerd" and
	// "ctr" from PATH when empty). ShimDir, when set, goes first on the
	// daemon's PATH: where it finds containerd-shim-runc-v2.
	Containerd string
	Ctr        string
	ShimDir    string
	// KubeletConfig is appended to the kubelet's configuration file, and
	// KubeletArgs to its command line (the cluster mode registers it).
	KubeletConfig string
	KubeletArgs   []string
	sandbox       string // pause image reference
	containerd    *exec.Cmd
	kubelet       *exec.Cmd
}

// kubelet's listeners, all on 127.0.0.1.
const (
	kubeletPort         = 10250
	kubeletReadOnlyPort = 10255
	kubeletHealthzPort  = 10248
	// Name is the kubelet's --hostname-override; static pods are named
	// <metadata.name>-<Name>.
	Name = "e2e-node"
)

// sysctls the kubelet rewrites at start (vm.overcommit_memory=1,
// kernel.panic=10, ...); saved before it starts and restored on teardown.
var kubeletSysctls = []string{
	"vm/overcommit_memory", "vm/panic_on_oom", "kernel/panic", "kernel/panic_on_oops",
	"kernel/keys/root_maxkeys", "kernel/keys/root_maxbytes",
}

// state is what a crashed run leaves for the next run's cleanup: the PIDs it
// started and the sysctl values to restore.
type state struct {
	ContainerdPID int               `json:"containerdPID,omitempty"`
	KubeletPID    int               `json:"kubeletPID,omitempty"`
	Sysctls       map[string]string `json:"sysctls,omitempty"`
	NetNS         []string          `json:"netns"`             // /var/run/netns entries before the start; null: not recorded yet
	Created       []string          `json:"created,omitempty"` // hostPaths that did not exist before the start
	Ctr           string            `json:"ctr,omitempty"`     // the ctr CLI of the containerd started
}

func (n *Node) path(p ...string) string { return filepath.Join(append([]string{n.Dir}, p...)...) }

// socket is containerd's gRPC socket.
func (n *Node) socket() string { return n.path("containerd", "containerd.sock") }

// manifestDir is the kubelet's staticPodPath.
func (n *Node) manifestDir() string { return n.path("manifests") }

// KubeletConfigFile is the kubelet's configuration file, which Prepare
// writes and the kubelet reads at every start.
func (n *Node) KubeletConfigFile() string { return n.path("kubelet-config.yaml") }

func (n *Node) statePath() string { return n.path("state.json") }

func (n *Node) loadState() (state, error) {
	var s state
	b, err := os.ReadFile(n.statePath())
	if errors.Is(err, os.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return s, fmt.Errorf("read state: %w", err)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("parse %s: %w", n.statePath(), err)
	}
	return s, nil
}

func (n *Node) saveState(s state) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return proc.WriteFileAtomic(n.statePath(), b, 0o644)
}

// Prepare writes containerd's, the CNI plugin's and the kubelet's
// configuration into a fresh Dir. Cleanup must have run first.
func (n *Node) Prepare(sandboxImage, cniPlugin string) error {
	n.sandbox = sandboxImage
	for _, d := range []string{"containerd", "kubelet", "manifests", "staging", "out", "logs", "pod-logs", "cni/bin", "cni/net.d"} {
		if err := os.MkdirAll(n.path(d), 0o755); err != nil {
			return err
		}
	}
	// Pods run as 65532 (the podseq image) and stamp into out/: world-writable.
	if err := os.Chmod(n.path("out"), 0o777); err != nil {
		return err
	}
	// Version 2, which containerd 1.6 reads and containerd 2 migrates at start
	// (it logs "Configuration migrated from version 2"): one file for both.
	containerdConfig := fmt.Sprintf(`version = 2
root = %[1]q
state = %[2]q
[grpc]
  address = %[3]q
[ttrpc]
  address = ""
[plugins]
  [plugins."io.containerd.internal.v1.opt"]
    path = %[4]q
  [plugins."io.containerd.grpc.v1.cri"]
    sandbox_image = %[5]q
    # Without CAP_SYS_RESOURCE runc cannot give the sandbox oom_score_adj -998
    # ("can't get final child's PID from pipe: EOF"): clamp it.
    restrict_oom_score_adj = true
    [plugins."io.containerd.grpc.v1.cri".containerd]
      snapshotter = "overlayfs"
      default_runtime_name = "runc"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
          # containerd 1.6 has no RuntimeConfig RPC, so the kubelet cannot ask
          # (containerd 2 answers from this): must match cgroupDriver: cgroupfs
          SystemdCgroup = false
    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = %[6]q
      conf_dir = %[7]q
`, n.path("containerd", "root"), n.path("containerd", "state"), n.socket(), n.path("containerd", "opt"),
		sandboxImage, n.path("cni", "bin"), n.path("cni", "net.d"))
	if err := os.WriteFile(n.path("containerd", "config.toml"), []byte(containerdConfig), 0o644); err != nil {
		return err
	}
	// One plugin serves as both the pod network (its name: cni-NAME.sh) and
	// "loopback" (lo). cni-isolated.sh gives every non-hostNetwork pod a
	// netns of its own, connected to nothing; cni-ptp.sh (the cluster mode)
	// routes pods through the node's namespace.
	plugin, err := os.ReadFile(cniPlugin)
	if err != nil {
		return fmt.Errorf("read CNI plugin: %w", err)
	}
	network := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(cniPlugin), "cni-"), ".sh")
	for _, name := range []string{network, "loopback"} {
		if err := os.WriteFile(n.path("cni", "bin", name), plugin, 0o755); err != nil {
			return err
		}
	}
	conflist := fmt.Sprintf(`{"cniVersion": "0.4.0", "name": "podseq-e2e", "plugins": [{"type": %q}]}`+"\n", network)
	if err := os.WriteFile(n.path("cni", "net.d", "10-"+network+".conflist"), []byte(conflist), 0o644); err != nil {
		return err
	}
	kubeletConfig := fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
staticPodPath: %[1]s
fileCheckFrequency: 1s
syncFrequency: 10s
containerRuntimeEndpoint: unix://%[2]s
cgroupDriver: cgroupfs
failSwapOn: false
%[3]sauthentication:
  anonymous: {enabled: true}
  webhook: {enabled: false}
authorization:
  mode: AlwaysAllow
address: 127.0.0.1
port: %[4]d
readOnlyPort: %[5]d
healthzBindAddress: 127.0.0.1
healthzPort: %[6]d
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "100Mi", nodefs.available: "1%%", imagefs.available: "1%%", nodefs.inodesFree: "1%%"}
`, n.manifestDir(), n.socket(), n.versionedKubeletConfig(), kubeletPort, kubeletReadOnlyPort, kubeletHealthzPort)
	return os.WriteFile(n.KubeletConfigFile(), []byte(kubeletConfig+n.KubeletConfig), 0o644)
}

// The kubelet minor versions that brought the configuration fields the node
// sets when its kubelet has them. Older kubelets decode unknown fields
// leniently (with a warning) and ignore them, so these are left out instead.
const (
	podLogsDirSince   = 30 // podLogsDir; before, pod logs go to /var/log/pods
	failCgroupV1Since = 31 // failCgroupV1: false, this machine may be cgroup v1
)

// defaultPodLogsDir is where kubelets write pod logs without podLogsDir.
const defaultPodLogsDir = "/var/log/pods"

// versionedKubeletConfig is the kubelet configuration's lines that depend on
// the kubelet's version, each ending in a newline.
func (n *Node) versionedKubeletConfig() string {
	var b strings.Builder
	if n.KubeletMinor >= failCgroupV1Since {
		b.WriteString("failCgroupV1: false\n")
	}
	if n.KubeletMinor >= podLogsDirSince {
		fmt.Fprintf(&b, "podLogsDir: %s\n", n.podLogsDir())
	}
	return b.String()
}

// podLogsDir is where the kubelet writes the containers' log files: under
// Dir when it has podLogsDir, else the machine's /var/log/pods.
func (n *Node) podLogsDir() string {
	if n.KubeletMinor >= podLogsDirSince {
		return n.path("pod-logs")
	}
	return defaultPodLogsDir
}

// startProcess starts a daemon in its own process group (a ^C on the
// harness reaches the harness only, which then tears down in order),
// logging to logs/BINARY.log.
func (n *Node) startProcess(name string, env []string, args ...string) (*exec.Cmd, error) {
	cmd, _, err := proc.StartDaemon(n.path("logs", filepath.Base(name)+".log"), name, env, args...)
	return cmd, err
}

// Start saves the sysctls, starts containerd, imports the images and starts
// the kubelet, returning once its healthz answers.
func (n *Node) Start(ctx context.Context, images []string) error {
	for _, port := range []int{kubeletPort, kubeletReadOnlyPort, kubeletHealthzPort} {
		if portInUse(port) {
			return fmt.Errorf("127.0.0.1:%d is in use: is another kubelet running?", port)
		}
	}
	st := state{Sysctls: map[string]string{}}
	for _, s := range kubeletSysctls {
		if b, err := os.ReadFile("/proc/sys/" + s); err == nil {
			st.Sysctls[s] = strings.TrimSpace(string(b))
		}
	}
	st.NetNS = listNetNS()
	for _, p := range hostPaths {
		if _, err := os.Lstat(p); errors.Is(err, os.ErrNotExist) {
			st.Created = append(st.Created, p)
		}
	}
	st.Ctr = n.Ctr
	if err := n.saveState(st); err != nil {
		return err
	}
	var err error
	n.containerd, err = n.startProcess(n.containerdBin(), n.containerdEnv(), "--config", n.path("containerd", "config.toml"))
	if err != nil {
		return err
	}
	st.ContainerdPID = n.containerd.Process.Pid
	if err := n.saveState(st); err != nil {
		return err
	}
	if err := proc.Poll(ctx, 20*time.Second, 100*time.Millisecond, func() error {
		_, err := n.ctr(ctx, "version")
		return err
	}); err != nil {
		return fmt.Errorf("containerd did not come up: %w", err)
	}
	for _, img := range images {
		if out, err := n.ctr(ctx, "-n", "k8s.io", "images", "import", img); err != nil {
			return fmt.Errorf("import %s: %w: %s", img, err, out)
		}
	}
	return n.startKubelet(ctx, st)
}

// startKubelet starts the kubelet, records its PID in st, and returns once
// its healthz answers.
func (n *Node) startKubelet(ctx context.Context, st state) error {
	var err error
	args := append([]string{"--config=" + n.KubeletConfigFile(),
		"--root-dir=" + n.path("kubelet"), "--cert-dir=" + n.path("kubelet", "pki"),
		"--hostname-override=" + Name, "--v=2"}, n.KubeletArgs...)
	n.kubelet, err = n.startProcess(n.Kubelet, nil, args...)
	if err != nil {
		return err
	}
	st.KubeletPID = n.kubelet.Process.Pid
	if err := n.saveState(st); err != nil {
		return err
	}
	healthz := fmt.Sprintf("http://127.0.0.1:%d/healthz", kubeletHealthzPort)
	return proc.Poll(ctx, 60*time.Second, 100*time.Millisecond, func() error {
		if n.kubelet.ProcessState != nil {
			return fmt.Errorf("kubelet exited: %s", n.kubelet.ProcessState)
		}
		resp, err := http.Get(healthz)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("kubelet healthz: %s", resp.Status)
		}
		return nil
	})
}

// RestartKubelet stops the kubelet (SIGTERM, as a node's service manager
// does; the pods and their containers keep running) and starts it again,
// returning once its healthz answers.
func (n *Node) RestartKubelet(ctx context.Context) error {
	st, err := n.loadState()
	if err != nil {
		return err
	}
	if err := proc.StopPID(st.KubeletPID, "kubelet", 15*time.Second); err != nil {
		return err
	}
	for _, port := range []int{kubeletPort, kubeletReadOnlyPort, kubeletHealthzPort} {
		if err := proc.Poll(ctx, 10*time.Second, 50*time.Millisecond, func() error {
			if portInUse(port) {
				return fmt.Errorf("127.0.0.1:%d still in use", port)
			}
			return nil
		}); err != nil {
			return err
		}
	}
	return n.startKubelet(ctx, st)
}

// containerTask returns the ID of the containerd task running container c of
// the pod named name, "" if none runs.
func (n *Node) containerTask(ctx context.Context, name, c string) (string, error) {
	running, err := n.runningTasks(ctx, fmt.Sprintf(`labels."io.kubernetes.pod.name"==%s-%s,labels."io.kubernetes.container.name"==%s`, name, Name, c))
	if err != nil || len(running) == 0 {
		return "", err
	}
	return running[0], nil
}

// KillContainer sends SIGKILL to every process of container c of the pod
// named name, as an OOM kill or a node-level kill would.
func (n *Node) KillContainer(ctx context.Context, name, c string) error {
	id, err := n.containerTask(ctx, name, c)
	if err != nil {
		return err
	}
	if id == "" {
		return fmt.Errorf("pod %s: container %s is not running", name, c)
	}
	if out, err := n.ctr(ctx, "-n", "k8s.io", "tasks", "kill", "-a", "-s", "SIGKILL", id); err != nil {
		return fmt.Errorf("ctr tasks kill %s: %w: %s", id, err, out)
	}
	return nil
}

// ContainerLog returns what the kubelet's log files hold of container c of
// the pod named name, every restart's in order.
func (n *Node) ContainerLog(name, c string) (string, error) {
	files, err := filepath.Glob(filepath.Join(n.podLogsDir(), "default_"+name+"-"+Name+"_*", c, "*.log"))
	if err != nil {
		return "", err
	}
	sort.Strings(files)
	var b strings.Builder
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return "", err
		}
		b.Write(data)
	}
	return b.String(), nil
}

// LogLine is one line of a container's log and when the runtime read it.
type LogLine struct {
	At   time.Time
	Text string
}

// ContainerLogLines is ContainerLog's lines, each with the time the runtime
// read it off the container's output: that is after the container wrote
// it, never before.
func (n *Node) ContainerLogLines(name, c string) ([]LogLine, error) {
	log, err := n.ContainerLog(name, c)
	if err != nil {
		return nil, err
	}
	var lines []LogLine
	for _, l := range strings.Split(strings.TrimSuffix(log, "\n"), "\n") {
		if l == "" {
			continue
		}
		// The CRI log format: TIME STREAM TAG TEXT.
		f := strings.SplitN(l, " ", 4)
		if len(f) < 3 {
			return nil, fmt.Errorf("log line of %s/%s %q: want TIME STREAM TAG TEXT", name, c, l)
		}
		at, err := time.Parse(time.RFC3339Nano, f[0])
		if err != nil {
			return nil, fmt.Errorf("log line of %s/%s %q: %w", name, c, l, err)
		}
		text := ""
		if len(f) == 4 {
			text = f[3]
		}
		lines = append(lines, LogLine{At: at, Text: text})
	}
	return lines, nil
}

// ctr runs the ctr CLI against this node's containerd and returns its
// standard output; a failure's error holds its standard error. The two are
// kept apart since containerd 2's ctr warns on standard error at every call
// on a cgroup v1 host ("DEPRECATION: The support for cgroup v1 ..."), which
// is no container ID.
func (n *Node) ctr(ctx context.Context, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	bin := n.Ctr
	if bin == "" {
		bin = "ctr"
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, append([]string{"-a", n.socket()}, args...)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

func (n *Node) containerdBin() string {
	if n.Containerd == "" {
		return "containerd"
	}
	return n.Containerd
}

// containerdEnv is the harness's environment with ShimDir first on PATH, or
// nil (the harness's own) without ShimDir.
func (n *Node) containerdEnv() []string {
	if n.ShimDir == "" {
		return nil
	}
	env := []string{"PATH=" + n.ShimDir + string(os.PathListSeparator) + os.Getenv("PATH")}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PATH=") {
			env = append(env, kv)
		}
	}
	return env
}

// Pods returns the kubelet's view of its pods (the read-only port's /pods).
func (n *Node) Pods(ctx context.Context) ([]corev1.Pod, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/pods", kubeletReadOnlyPort), nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("kubelet /pods: %w", err)
	}
	defer resp.Body.Close()
	var list corev1.PodList
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		return nil, fmt.Errorf("decode kubelet /pods: %w", err)
	}
	return list.Items, nil
}

// Pod returns the static pod made from the manifest named name, or nil.
func (n *Node) Pod(ctx context.Context, name string) (*corev1.Pod, error) {
	pods, err := n.Pods(ctx)
	if err != nil {
		return nil, err
	}
	for i := range pods {
		if pods[i].Name == name+"-"+Name {
			return &pods[i], nil
		}
	}
	return nil, nil
}

// podTasks returns the IDs of containerd tasks (containers and sandboxes)
// still running for the pod named name (a static pod's manifest name).
func (n *Node) podTasks(ctx context.Context, name string) ([]string, error) {
	return n.runningTasks(ctx, fmt.Sprintf(`labels."io.kubernetes.pod.name"==%s-%s`, name, Name))
}

// runningTasks returns the IDs of the running containerd tasks whose
// containers match filter, a ctr label filter.
func (n *Node) runningTasks(ctx context.Context, filter string) ([]string, error) {
	out, err := n.ctr(ctx, "-n", "k8s.io", "containers", "ls", "-q", filter)
	if err != nil {
		return nil, fmt.Errorf("ctr containers ls: %w: %s", err, out)
	}
	ids := map[string]bool{}
	for _, id := range strings.Fields(out) {
		ids[id] = true
	}
	tasks, err := n.ctr(ctx, "-n", "k8s.io", "tasks", "ls")
	if err != nil {
		return nil, fmt.Errorf("ctr tasks ls: %w: %s", err, tasks)
	}
	var running []string
	for _, line := range strings.Split(tasks, "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && ids[f[0]] && f[2] == "RUNNING" {
			running = append(running, f[0])
		}
	}
	return running, nil
}

// AddPod writes a manifest into the static pod directory atomically: a
// half-written file makes the kubelet log a parse error.
func (n *Node) AddPod(name string, manifest []byte) error {
	tmp := n.path("staging", name+".yaml")
	if err := os.WriteFile(tmp, manifest, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(n.manifestDir(), name+".yaml"))
}

// RemovePod deletes a static pod's manifest.
func (n *Node) RemovePod(name string) error {
	err := os.Remove(filepath.Join(n.manifestDir(), name+".yaml"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// WaitPodGone waits until the kubelet no longer lists the pod and containerd
// runs none of its tasks.
func (n *Node) WaitPodGone(ctx context.Context, name string, limit time.Duration) error {
	return proc.Poll(ctx, limit, 200*time.Millisecond, func() error {
		p, err := n.Pod(ctx, name)
		if err != nil {
			return err
		}
		if p != nil {
			return fmt.Errorf("pod %s still listed", name)
		}
		tasks, err := n.podTasks(ctx, name)
		if err != nil {
			return err
		}
		if len(tasks) > 0 {
			return fmt.Errorf("pod %s: %d tasks still running", name, len(tasks))
		}
		return nil
	})
}

// Diagnose prints the tails of the kubelet and containerd logs and every
// pod's container states.
func (n *Node) Diagnose(ctx context.Context) {
	for _, f := range []string{"kubelet.log", "containerd.log"} {
		fmt.Printf("\n--- tail of %s ---\n%s", f, proc.Tail(n.path("logs", f), 40))
	}
	fmt.Printf("\n--- pods (kubelet /pods) ---\n")
	pods, err := n.Pods(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, p := range pods {
		fmt.Print(DescribePod(&p))
	}
}

// describePod is one line per pod and per container status.
// DescribePod is p's phase and one line per container: ready, restarts and
// state.
func DescribePod(p *corev1.Pod) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s phase=%s\n", p.Name, p.Status.Phase)
	all := append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...)
	for _, c := range all {
		fmt.Fprintf(&b, "  %-12s ready=%t restarts=%d %s\n", c.Name, c.Ready, c.RestartCount, StateString(c.State))
	}
	return b.String()
}

// StateString is a container state in one line.
func StateString(s corev1.ContainerState) string {
	switch {
	case s.Running != nil:
		return "running since " + s.Running.StartedAt.UTC().Format(time.RFC3339)
	case s.Terminated != nil:
		return fmt.Sprintf("terminated exit=%d reason=%s %q", s.Terminated.ExitCode, s.Terminated.Reason, s.Terminated.Message)
	case s.Waiting != nil:
		return fmt.Sprintf("waiting reason=%s %q", s.Waiting.Reason, s.Waiting.Message)
	}
	return "unknown"
}

// KubeletLog returns the kubelet's log so far.
func (n *Node) KubeletLog() (string, error) {
	b, err := os.ReadFile(n.path("logs", "kubelet.log"))
	return string(b), err
}

// Cleanup tears down whatever a run (this one, or an earlier one that
// crashed) left: static pods, the kubelet, containerd, tasks, mounts,
// cgroups, netns entries; then restores the sysctls. It only signals PIDs
// recorded in Dir's state file, and only while they still run the binary
// it started.
func (n *Node) Cleanup(ctx context.Context) error {
	st, err := n.loadState()
	if err != nil {
		return err
	}
	if st.Ctr != "" && st.Ctr != n.Ctr {
		// An earlier run, maybe of another release: its containerd speaks
		// with its own ctr.
		earlier := *n
		earlier.Ctr = st.Ctr
		n = &earlier
	}
	var errs []error
	kubeletUp := proc.Alive(st.KubeletPID, "kubelet")
	containerdUp := proc.Alive(st.ContainerdPID, "containerd")
	if kubeletUp {
		// Let the kubelet stop the pods itself, as it would on a node: remove the
		// manifests, then wait until it lists none and containerd runs no task.
		entries, _ := os.ReadDir(n.manifestDir())
		for _, e := range entries {
			_ = os.Remove(filepath.Join(n.manifestDir(), e.Name()))
		}
		_ = proc.Poll(ctx, 60*time.Second, 250*time.Millisecond, func() error {
			pods, err := n.Pods(ctx)
			if err != nil {
				return err
			}
			if len(pods) > 0 {
				return fmt.Errorf("%d pods left", len(pods))
			}
			if containerdUp {
				if out, _ := n.ctr(ctx, "-n", "k8s.io", "tasks", "ls", "-q"); strings.TrimSpace(out) != "" {
					return errors.New("tasks left")
				}
			}
			return nil
		})
		errs = append(errs, proc.StopPID(st.KubeletPID, "kubelet", 15*time.Second))
	}
	if containerdUp {
		// Whatever the kubelet left: kill and delete, or shims and cgroups stay.
		out, _ := n.ctr(ctx, "-n", "k8s.io", "tasks", "ls", "-q")
		for _, id := range strings.Fields(out) {
			_, _ = n.ctr(ctx, "-n", "k8s.io", "tasks", "kill", "-s", "SIGKILL", id)
		}
		_ = proc.Poll(ctx, 10*time.Second, 250*time.Millisecond, func() error {
			if out, _ := n.ctr(ctx, "-n", "k8s.io", "tasks", "ls", "-q"); strings.TrimSpace(out) != "" {
				return errors.New("tasks left")
			}
			return nil
		})
		for _, id := range strings.Fields(out) {
			_, _ = n.ctr(ctx, "-n", "k8s.io", "tasks", "delete", "-f", id)
		}
		errs = append(errs, proc.StopPID(st.ContainerdPID, "containerd", 15*time.Second))
	}
	errs = append(errs, unmountUnder(n.Dir))
	removeCgroups()
	errs = append(errs, removePodLogs(), removeCNIResults())
	for _, p := range st.Created {
		errs = append(errs, unmountUnder(p))
		if err := os.RemoveAll(p); err != nil {
			errs = append(errs, fmt.Errorf("remove %s: %w", p, err))
		}
	}
	if st.NetNS != nil {
		before := map[string]bool{}
		for _, ns := range st.NetNS {
			before[ns] = true
		}
		for _, ns := range listNetNS() {
			if !before[ns] && strings.HasPrefix(ns, "cni-") {
				p := filepath.Join("/var/run/netns", ns)
				_ = syscall.Unmount(p, syscall.MNT_DETACH)
				_ = os.Remove(p)
			}
		}
	}
	keys := make([]string, 0, len(st.Sysctls))
	for k := range st.Sysctls {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := os.WriteFile("/proc/sys/"+k, []byte(st.Sysctls[k]+"\n"), 0o644); err != nil {
			errs = append(errs, fmt.Errorf("restore sysctl %s: %w", k, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if err := os.Remove(n.statePath()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// unmountUnder unmounts every mount point below dir, deepest first.
func unmountUnder(dir string) error {
	b, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return err
	}
	prefix := filepath.Clean(dir) + "/"
	var points []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 1 {
			p := unescapeMount(f[1])
			if strings.HasPrefix(p, prefix) {
				points = append(points, p)
			}
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(points)))
	var errs []error
	for _, p := range points {
		if err := syscall.Unmount(p, 0); err != nil {
			if err := syscall.Unmount(p, syscall.MNT_DETACH); err != nil {
				errs = append(errs, fmt.Errorf("unmount %s: %w", p, err))
			}
		}
	}
	return errors.Join(errs...)
}

// unescapeMount undoes /proc/mounts' octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// removeCgroups removes the (empty) kubepods cgroups the kubelet created.
func removeCgroups() {
	roots, _ := filepath.Glob("/sys/fs/cgroup/*/kubepods*")
	more, _ := filepath.Glob("/sys/fs/cgroup/kubepods*")
	for _, root := range append(roots, more...) {
		var dirs []string
		_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			_ = os.Remove(dirs[i])
		}
	}
}

// hostPaths are the machine's paths the kubelet and containerd write
// whatever their configuration says (the kubelet's device-plugin socket,
// containerd 2's NRI socket and shim sockets, runc's state, the CNI result
// cache, the pods' log links): those that did not exist before a run are
// removed by its cleanup.
var hostPaths = []string{
	"/var/lib/kubelet", "/run/nri", "/run/containerd", "/var/lib/cni",
	defaultPodLogsDir, containerLogLinks,
}

// removeCNIResults removes the CNI result cache's entries of this node's
// network (podseq-e2e-ID-eth0) and their loopback twins (cni-loopback-ID-lo),
// where /var/lib/cni held other entries before the run.
func removeCNIResults() error {
	results, _ := filepath.Glob("/var/lib/cni/results/podseq-e2e-*")
	var errs []error
	for _, r := range results {
		id := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(r), "podseq-e2e-"), "-eth0")
		for _, p := range []string{r, filepath.Join(filepath.Dir(r), "cni-loopback-"+id+"-lo")} {
			if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// containerLogLinks is where every kubelet links its containers' log files,
// as <pod>_<namespace>_<container>-<id>.log.
const containerLogLinks = "/var/log/containers"

// removePodLogs removes what kubelets without podLogsDir leave of this
// node's pods in /var/log/pods, and every kubelet's links to them in
// /var/log/containers: only the entries of pods named *-Name.
func removePodLogs() error {
	dirs, _ := filepath.Glob(filepath.Join(defaultPodLogsDir, "*_*-"+Name+"_*"))
	links, _ := filepath.Glob(filepath.Join(containerLogLinks, "*-"+Name+"_*.log"))
	// The cluster mode's pods live in the e2e-* namespaces.
	apiLinks, _ := filepath.Glob(filepath.Join(containerLogLinks, "*_e2e-*_*.log"))
	links = append(links, apiLinks...)
	var errs []error
	for _, p := range append(dirs, links...) {
		if err := os.RemoveAll(p); err != nil {
			errs = append(errs, fmt.Errorf("remove pod logs: %w", err))
		}
	}
	return errors.Join(errs...)
}

func listNetNS() []string {
	entries, _ := os.ReadDir("/var/run/netns")
	names := []string{}
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// portInUse reports whether something accepts connections on 127.0.0.1:port.
func portInUse(port int) bool {
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}
