package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// manifestOrCode returns the pod spec of kind in manifests/rel (a file or a
// directory) when it exists, else the fallback built in code; the summary
// names which one ran, so a missing manifest shows.
func (t *T) manifestOrCode(rel, kind string, fallback func() *corev1.PodSpec) (*corev1.PodSpec, error) {
	if _, err := os.Stat(filepath.Join(t.Repo, "manifests", rel)); err != nil {
		t.Figure("pod", "in code (no manifests/%s)", rel)
		return fallback(), nil
	}
	spec, file, err := t.LoadPodSpec(rel, kind)
	if err != nil {
		return nil, err
	}
	t.Figure("pod", "manifests/%s", file)
	return spec, nil
}

// demoSpec is the shape of manifests/demo: podseq run as the sidecar, listed
// first, holding the app back with podseq wait in its postStart.
func demoSpec() *corev1.PodSpec {
	return &corev1.PodSpec{Containers: []corev1.Container{
		{
			Name: "sidecar", Image: "podseq:dev",
			Args: []string{"run", "--ready-after", "10s"},
			Lifecycle: &corev1.Lifecycle{PostStart: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{
				Command: []string{"/podseq", "wait", "--timeout=2m", "http://localhost:15780/ready"}}}},
		},
		{
			Name: "app", Image: "busybox",
			Command: []string{"sh", "-c", "wget -q -O- http://localhost:15780/ready && exec sleep 3600"},
		},
	}}
}

// setFlag sets --name=value in argv: it replaces an existing --name=x or
// "--name x", or inserts it right after the subcommand (argv[i] == sub).
func setFlag(argv []string, sub, name, value string) ([]string, error) {
	flag := "--" + name
	out := append([]string(nil), argv...)
	for i, a := range out {
		if a == "--" {
			break
		}
		if strings.HasPrefix(a, flag+"=") {
			out[i] = flag + "=" + value
			return out, nil
		}
		if a == flag && i+1 < len(out) {
			out[i+1] = value
			return out, nil
		}
	}
	for i, a := range out {
		if a == sub {
			return append(out[:i+1], append([]string{flag + "=" + value}, out[i+1:]...)...), nil
		}
	}
	return nil, fmt.Errorf("no %q subcommand in %q", sub, argv)
}

// setBoolFlag adds --name after the subcommand unless present.
func setBoolFlag(argv []string, sub, name string) ([]string, error) {
	for _, a := range argv {
		if a == "--"+name || strings.HasPrefix(a, "--"+name+"=") {
			return argv, nil
		}
	}
	for i, a := range argv {
		if a == sub {
			out := append([]string(nil), argv[:i+1]...)
			out = append(out, "--"+name)
			return append(out, argv[i+1:]...), nil
		}
	}
	return nil, fmt.Errorf("no %q subcommand in %q", sub, argv)
}

// mainArgv returns a pointer to the slice holding the podseq subcommand of a
// container: Args when the image's entrypoint runs podseq, else Command.
func mainArgv(c *corev1.Container) *[]string {
	if len(c.Command) == 0 {
		return &c.Args
	}
	return &c.Command
}

// hookArgv returns the postStart exec command of c, or nil.
func hookArgv(c *corev1.Container) *[]string {
	if c.Lifecycle == nil || c.Lifecycle.PostStart == nil || c.Lifecycle.PostStart.Exec == nil {
		return nil
	}
	return &c.Lifecycle.PostStart.Exec.Command
}

// freePort returns a TCP port on 127.0.0.1 that nothing listens on now.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
