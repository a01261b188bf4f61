package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/podseq/podseq/hack/e2e/internal/node"
	"github.com/podseq/podseq/hack/e2e/internal/proc"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// In every test pod the harness's tools directory (static busybox, stamp,
// svc) is mounted read-only at toolsMount and the scenario's output
// directory (a hostPath) at outMount.
const (
	toolsMount = "/e2e"
	outMount   = "/out"
	shell      = toolsMount + "/busybox"
	stampBin   = toolsMount + "/stamp"
	svcBin     = toolsMount + "/svc"
	podseqBin  = "/podseq" // in the podseq image
)

// LoadPodSpec reads the pod spec of the first object of the given kind (any
// kind with a pod spec when kind is "") in
// manifests/rel: a file, or every *.yaml file of a directory in name order.
// The object is a Pod, or a Deployment, Job, StatefulSet or DaemonSet whose
// pod template is taken. A file may hold several YAML documents.
func (e *Env) LoadPodSpec(rel, kind string) (*corev1.PodSpec, string, error) {
	path := filepath.Join(e.Repo, "manifests", rel)
	files := []string{path}
	if fi, err := os.Stat(path); err != nil {
		return nil, "", fmt.Errorf("manifest: %w", err)
	} else if fi.IsDir() {
		files, _ = filepath.Glob(filepath.Join(path, "*.yaml"))
	}
	var found []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, "", fmt.Errorf("manifest: %w", err)
		}
		for _, doc := range splitYAML(b) {
			spec, k, err := podSpecIn(doc, kind)
			if err != nil {
				return nil, "", fmt.Errorf("%s: %w", f, err)
			}
			found = append(found, k)
			if spec != nil {
				rel, _ := filepath.Rel(filepath.Join(e.Repo, "manifests"), f)
				return spec, rel, nil
			}
		}
	}
	return nil, "", fmt.Errorf("%s: no %s in it (found %v)", path, kind, found)
}

// podSpecIn returns the pod spec of one YAML document if it is of the given
// kind (any kind with a pod spec when kind is ""), and the document's kind.
func podSpecIn(doc []byte, kind string) (*corev1.PodSpec, string, error) {
	var head struct {
		Kind string `json:"kind"`
	}
	if err := yaml.Unmarshal(doc, &head); err != nil {
		return nil, "", err
	}
	if !podKinds[head.Kind] || (kind != "" && head.Kind != kind) {
		return nil, head.Kind, nil
	}
	if head.Kind == "Pod" {
		var p corev1.Pod
		if err := yaml.UnmarshalStrict(doc, &p); err != nil {
			return nil, head.Kind, err
		}
		return &p.Spec, head.Kind, nil
	}
	var w struct {
		Spec struct {
			Template corev1.PodTemplateSpec `json:"template"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(doc, &w); err != nil {
		return nil, head.Kind, err
	}
	return &w.Spec.Template.Spec, head.Kind, nil
}

// podKinds are the objects LoadPodSpec takes a pod spec from.
var podKinds = map[string]bool{"Pod": true, "Deployment": true, "StatefulSet": true, "DaemonSet": true, "ReplicaSet": true, "Job": true}

// splitYAML splits a multi-document YAML file on "---" lines.
func splitYAML(b []byte) [][]byte {
	var docs [][]byte
	var cur bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	flush := func() {
		if len(bytes.TrimSpace(cur.Bytes())) > 0 {
			docs = append(docs, append([]byte(nil), cur.Bytes()...))
		}
		cur.Reset()
	}
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "---") {
			flush()
			continue
		}
		cur.Write(sc.Bytes())
		cur.WriteByte('\n')
	}
	flush()
	return docs
}

// PodBuilder turns a pod spec (from a manifest) into a
// static pod for this node: images replaced by the ones the harness built,
// the tools and output directories mounted, commands wrapped with stamps.
type PodBuilder struct {
	Name string
	Spec *corev1.PodSpec
	env  *Env
	out  string // host directory mounted at /out
}

// NewPod starts a static pod named name from spec; its output directory is
// created fresh.
func (e *Env) NewPod(name string, spec *corev1.PodSpec) (*PodBuilder, error) {
	out := filepath.Join(e.Node.Dir, "out", name)
	if err := os.RemoveAll(out); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(out, 0o777); err != nil {
		return nil, err
	}
	if err := os.Chmod(out, 0o777); err != nil { // umask
		return nil, err
	}
	b := &PodBuilder{Name: name, Spec: spec.DeepCopy(), env: e, out: out}
	grace := int64(2)
	b.Spec.TerminationGracePeriodSeconds = &grace
	b.Spec.Volumes = append(b.Spec.Volumes,
		corev1.Volume{Name: "e2e-tools", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: e.Node.Tools}}},
		corev1.Volume{Name: "e2e-out", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: out}}})
	for _, c := range b.containers() {
		switch {
		case strings.Contains(c.Image, "podseq"):
			c.Image = e.PodseqImage
		case strings.Contains(c.Image, "busybox"):
			c.Image = e.BusyboxImage
		default:
			return nil, fmt.Errorf("pod %s: container %s: image %q: the e2e node has only podseq and busybox", name, c.Name, c.Image)
		}
		c.ImagePullPolicy = corev1.PullNever
		c.VolumeMounts = append(c.VolumeMounts,
			corev1.VolumeMount{Name: "e2e-tools", MountPath: toolsMount, ReadOnly: true},
			corev1.VolumeMount{Name: "e2e-out", MountPath: outMount})
	}
	// The podseq image as a volume (inject's image-volume delivery) is the
	// one on the node, still pulled only if not present: no registry.
	for _, v := range b.Spec.Volumes {
		if v.Image != nil && strings.Contains(v.Image.Reference, "podseq") {
			v.Image.Reference = e.PodseqImage
		}
	}
	return b, nil
}

// containers returns pointers to every init and regular container.
func (b *PodBuilder) containers() []*corev1.Container {
	var cs []*corev1.Container
	for i := range b.Spec.InitContainers {
		cs = append(cs, &b.Spec.InitContainers[i])
	}
	for i := range b.Spec.Containers {
		cs = append(cs, &b.Spec.Containers[i])
	}
	return cs
}

// Container returns the init or regular container named name.
func (b *PodBuilder) Container(name string) (*corev1.Container, error) {
	for _, c := range b.containers() {
		if c.Name == name {
			return c, nil
		}
	}
	return nil, fmt.Errorf("pod %s: no container %q", b.Name, name)
}

// argv is what the container runs: its command (or the image's entrypoint)
// followed by its args.
func (b *PodBuilder) argv(c *corev1.Container) ([]string, error) {
	cmd := c.Command
	if len(cmd) == 0 {
		if c.Image != b.env.PodseqImage {
			return nil, fmt.Errorf("container %s: no command, and the entrypoint of %s is not known", c.Name, c.Image)
		}
		cmd = []string{podseqBin}
	}
	return append(append([]string{}, cmd...), c.Args...), nil
}

// Stamp returns the in-pod command that stamps event into /out.
func Stamp(event string) string { return stampBin + " " + outMount + "/" + event }

// WrapMain makes the container run the shell snippet before, then exec its
// own command (so signals still reach it).
func (b *PodBuilder) WrapMain(c *corev1.Container, before string) error {
	argv, err := b.argv(c)
	if err != nil {
		return err
	}
	c.Command = append([]string{shell, "sh", "-c", before + `; exec "$@"`, "sh"}, argv...)
	c.Args = nil
	return nil
}

// WrapChild makes the command that the container's podseq (run or wait)
// starts after "--" run the shell snippet before, then exec the command: the
// instant the podseq gate lets the app start, not the container's start.
func (b *PodBuilder) WrapChild(c *corev1.Container, before string) error {
	argv, err := b.argv(c)
	if err != nil {
		return err
	}
	i := slices.Index(argv, "--")
	if i < 0 || i == len(argv)-1 {
		return fmt.Errorf("pod %s: container %s: no command after -- in %q", b.Name, c.Name, argv)
	}
	wrapped := append(slices.Clone(argv[:i+1]), shell, "sh", "-c", before+`; exec "$@"`, "sh")
	c.Command, c.Args = append(wrapped, argv[i+1:]...), nil
	return nil
}

// WrapPostStart wraps the container's postStart exec hook: before runs
// first, then the hook, then after (with $rc set to the hook's exit code),
// and the wrapped hook exits with the hook's code.
func (b *PodBuilder) WrapPostStart(c *corev1.Container, before, after string) error {
	if c.Lifecycle == nil || c.Lifecycle.PostStart == nil || c.Lifecycle.PostStart.Exec == nil {
		return fmt.Errorf("pod %s: container %s has no postStart exec hook", b.Name, c.Name)
	}
	h := c.Lifecycle.PostStart.Exec
	h.Command = append([]string{shell, "sh", "-c", before + `; "$@"; rc=$?; ` + after + `; exit $rc`, "sh"}, h.Command...)
	return nil
}

// Manifest renders the static pod.
func (b *PodBuilder) Manifest() ([]byte, error) {
	p := corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: b.Name, Namespace: "default"},
		Spec:       *b.Spec,
	}
	j, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	return yaml.JSONToYAML(j)
}

// adaptProbes rewrites, in a pod with its own netns, every httpGet and
// tcpSocket probe into an exec probe run inside the container: the kubelet
// probes from the host, which cannot reach the harness's isolated pod
// networks. The path, port, period and thresholds stay as written.
func (b *PodBuilder) adaptProbes() error {
	if b.Spec.HostNetwork {
		return nil
	}
	for _, c := range b.containers() {
		for _, p := range []*corev1.Probe{c.StartupProbe, c.ReadinessProbe, c.LivenessProbe} {
			if p == nil {
				continue
			}
			var port intstr.IntOrString
			switch {
			case p.HTTPGet != nil:
				port = p.HTTPGet.Port
			case p.TCPSocket != nil:
				port = p.TCPSocket.Port
			default:
				continue
			}
			n := port.IntValue()
			if port.Type == intstr.String {
				for _, cp := range c.Ports {
					if cp.Name == port.StrVal {
						n = int(cp.ContainerPort)
					}
				}
			}
			if n <= 0 {
				return fmt.Errorf("pod %s: container %s: probe port %s not found", b.Name, c.Name, port.String())
			}
			var cmd []string
			if p.HTTPGet != nil {
				path := p.HTTPGet.Path
				if !strings.HasPrefix(path, "/") {
					path = "/" + path
				}
				cmd = []string{shell, "wget", "-q", "-O", "/dev/null", fmt.Sprintf("http://127.0.0.1:%d%s", n, path)}
			} else {
				cmd = []string{shell, "sh", "-c", fmt.Sprintf("%s nc -w 1 127.0.0.1 %d </dev/null", shell, n)}
			}
			p.ProbeHandler = corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: cmd}}
		}
	}
	return nil
}

// Start writes the manifest into the static pod directory.
func (b *PodBuilder) Start() error {
	if err := b.adaptProbes(); err != nil {
		return err
	}
	m, err := b.Manifest()
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(b.env.Node.Dir, "out", b.Name+".yaml"), m, 0o644); err != nil {
		return err
	}
	return b.env.Node.AddPod(b.Name, m)
}

// Out is the host path of file in the pod's output directory.
func (b *PodBuilder) Out(file string) string { return filepath.Join(b.out, file) }

// ReadStamp returns the first time stamped into the pod's output file event.
func (b *PodBuilder) ReadStamp(event string) (time.Time, error) {
	ts, err := b.ReadStamps(event)
	if err != nil {
		return time.Time{}, err
	}
	if len(ts) == 0 {
		return time.Time{}, fmt.Errorf("%s: empty", b.Out(event))
	}
	return ts[0], nil
}

// ReadStamps returns every time stamped into event, in order (one a start of
// the container, for a container's start stamp).
func (b *PodBuilder) ReadStamps(event string) ([]time.Time, error) {
	return readStamps(b.Out(event))
}

// readStamps reads a stamp file: one line per event, each starting with
// nanoseconds since the epoch (stamp's, or `date +%s%N`'s).
func readStamps(path string) ([]time.Time, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var ts []time.Time
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		f := strings.Fields(l)
		if len(f) == 0 {
			continue
		}
		ns, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		ts = append(ts, time.Unix(0, ns))
	}
	return ts, nil
}

// WaitStamps waits until event has been stamped n times and returns them.
func (t *T) WaitStamps(b *PodBuilder, event string, n int, limit time.Duration) ([]time.Time, error) {
	var ts []time.Time
	err := proc.Poll(t.Ctx, limit, 50*time.Millisecond, func() error {
		var err error
		ts, err = b.ReadStamps(event)
		switch {
		case errors.Is(err, os.ErrNotExist):
			err = fmt.Errorf("pod %s: %s not stamped yet", b.Name, event)
		case err == nil && len(ts) < n:
			err = fmt.Errorf("pod %s: %s stamped %d times, want %d", b.Name, event, len(ts), n)
		}
		return err
	})
	return ts, err
}

// WaitKubeletLog waits until the kubelet's log holds want, and returns the
// log. The kubelet writes a hook's output after the hook's process ended, so
// a scenario that saw the hook end may read the log before that line.
func (t *T) WaitKubeletLog(want string, limit time.Duration) (string, error) {
	var log string
	err := proc.Poll(t.Ctx, limit, 50*time.Millisecond, func() error {
		var err error
		if log, err = t.Node.KubeletLog(); err == nil && !strings.Contains(log, want) {
			err = fmt.Errorf("the kubelet log lacks %q", want)
		}
		return err
	})
	return log, err
}

// StampCount is how many times event was stamped (0 if never).
func (b *PodBuilder) StampCount(event string) int {
	data, err := os.ReadFile(b.Out(event))
	if err != nil {
		return 0
	}
	return strings.Count(string(data), "\n")
}

// WaitStamp waits until event has been stamped, and returns its first time.
func (t *T) WaitStamp(b *PodBuilder, event string, limit time.Duration) (time.Time, error) {
	ts, err := t.WaitStamps(b, event, 1, limit)
	if err != nil {
		return time.Time{}, err
	}
	return ts[0], nil
}

// Status returns the container's status in the kubelet's /pods, or nil.
func (t *T) Status(b *PodBuilder, container string) (*corev1.ContainerStatus, error) {
	p, err := t.Node.Pod(t.Ctx, b.Name)
	if err != nil || p == nil {
		return nil, err
	}
	for _, list := range [][]corev1.ContainerStatus{p.Status.InitContainerStatuses, p.Status.ContainerStatuses} {
		for i := range list {
			if list[i].Name == container {
				return &list[i], nil
			}
		}
	}
	return nil, nil
}

// Stop removes the pod's manifest and waits until the pod is gone. It keeps
// the pod's last status first, printed if the scenario fails.
func (t *T) Stop(b *PodBuilder) error {
	if p, err := t.Node.Pod(context.Background(), b.Name); err == nil && p != nil {
		t.mu.Lock()
		t.lastStatus = append(t.lastStatus, node.DescribePod(p))
		t.mu.Unlock()
	}
	if err := t.Node.RemovePod(b.Name); err != nil {
		return err
	}
	return t.Node.WaitPodGone(t.Ctx, b.Name, 60*time.Second)
}

// ms formats a duration in milliseconds.
func ms(d time.Duration) string { return fmt.Sprintf("%d ms", d.Milliseconds()) }
