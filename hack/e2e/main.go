// Command e2e runs podseq on a real kubelet: it starts containerd and a
// kubelet (standalone: static pods from a directory, no API server, no
// registry), imports the podseq image and two test images, runs every
// scenario as static pods, prints a summary table, and tears down everything
// it started. hack/e2e/run.sh installs the packages and builds what this
// needs; run it through `make e2e`.
//
//	e2e -repo DIR -dir DIR -kubelet BIN -tools DIR -mkimage BIN -podseq-image TAR
//	    [-containerd BIN -ctr BIN -shim-dir DIR] [-run REGEXP] [-runs N] [-keep]
//	    [-release NAME -results FILE]
//	e2e -dir DIR -cleanup
//	e2e -matrix NAME=FILE...
//
// The kubelet's version (kubelet --version) decides its configuration and
// which scenarios apply: those needing a newer kubelet are reported "n/a
// (needs v1.N+)", neither passed nor failed. -results writes the run's
// results as JSON; -matrix prints one table of several such files (make
// e2e-matrix: one run per Kubernetes release).
//
// Exit codes: 0 every scenario passed, 1 a scenario failed or setup failed,
// 2 bad flags.
package main

import (
	"context"
	"debug/elf"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/podseq/podseq/hack/e2e/internal/cluster"
	"github.com/podseq/podseq/hack/e2e/internal/node"
	"github.com/podseq/podseq/hack/e2e/internal/proc"
)

// Image references on the node; the podseq tarball is tagged podseq:dev.
const (
	podseqImage  = "podseq:dev"
	busyboxImage = "localhost/podseq-e2e/busybox:1"
	pauseImage   = "localhost/podseq-e2e/pause:1"
	// appImage is an app whose argv is only in its image: ENTRYPOINT
	// /app.sh, CMD serve (the script stamps app.started at its start).
	appImage = "localhost/podseq-e2e/app:1"
	// manifestBusyboxImage is the busybox the manifests name: the same
	// static busybox, so that kubectl apply -k needs no registry.
	manifestBusyboxImage = "busybox:1.36"
)

type options struct {
	repo, dir, kubelet, tools, mkimage, podseqTar, busybox string
	containerd, ctr, shimDir                               string
	run, release, results, cluster                         string
	runs, parallel                                         int
	keep, cleanup, matrix, bench                           bool
}

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	var o options
	fs := flag.NewFlagSet("e2e", flag.ContinueOnError)
	fs.StringVar(&o.repo, "repo", ".", "the podseq checkout (manifests/ are read from it)")
	fs.StringVar(&o.dir, "dir", "/tmp/podseq-e2e", "the node's working directory (wiped at start)")
	fs.StringVar(&o.kubelet, "kubelet", "", "the kubelet binary")
	fs.StringVar(&o.tools, "tools", "", "directory holding the stamp, svc and pause binaries")
	fs.StringVar(&o.mkimage, "mkimage", "", "the mkimage binary (hack/mkimage)")
	fs.StringVar(&o.podseqTar, "podseq-image", "", "the podseq image tarball (make image-tar), tagged "+podseqImage)
	fs.StringVar(&o.busybox, "busybox", "/bin/busybox", "a static busybox")
	fs.StringVar(&o.containerd, "containerd", "containerd", "the containerd binary")
	fs.StringVar(&o.ctr, "ctr", "ctr", "containerd's ctr CLI, of the same version")
	fs.StringVar(&o.shimDir, "shim-dir", "", "a directory put first on containerd's PATH: its containerd-shim-runc-v2")
	fs.StringVar(&o.release, "release", "", "a name for the Kubernetes release under test, in -results (newest, v1.34, oldest)")
	fs.StringVar(&o.results, "results", "", "write the results as JSON to this file")
	fs.BoolVar(&o.matrix, "matrix", false, "print one table of the -results files given as arguments NAME=FILE, and exit")
	fs.StringVar(&o.run, "run", "", "run only the scenarios whose name matches this regexp (benchmarks included)")
	fs.BoolVar(&o.bench, "bench", false, "also run the benchmark scenarios (make e2e-bench): the timed comparisons, which prove no behaviour the others do not")
	fs.IntVar(&o.runs, "runs", 3, "repetitions of each timed measurement")
	fs.IntVar(&o.parallel, "parallel", 16, "at most this many concurrent scenarios at once (on 2 cores, more starve the kubelet and the bounds of some scenarios)")
	fs.BoolVar(&o.keep, "keep", false, "leave the node running after the scenarios (tear down later with -cleanup)")
	fs.BoolVar(&o.cleanup, "cleanup", false, "only tear down what an earlier run left in -dir")
	fs.StringVar(&o.cluster, "cluster", "", "also run a control plane around the node (API server, etcd, controllers, scheduler, kube-proxy, CoreDNS) "+
		"from the binaries this file lists (components.sh newest), in a network namespace of its own, and the cluster scenarios")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if o.matrix {
		return printMatrix(os.Stdout, fs.Args())
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "e2e: unexpected arguments %q\n", fs.Args())
		return 2
	}
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "e2e: must run as root (it starts containerd and a kubelet)")
		return 2
	}
	dir, err := filepath.Abs(o.dir)
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: -dir: %v\n", err)
		return 2
	}
	nd := &node.Node{Dir: dir, Kubelet: o.kubelet, Tools: filepath.Join(dir, "tools"),
		Containerd: o.containerd, Ctr: o.ctr, ShimDir: o.shimDir}
	cl := &cluster.Cluster{Dir: filepath.Join(dir, "cluster")}
	inNetNS := cluster.InNetNS()
	if !inNetNS && (o.cluster != "" || (o.cleanup && cluster.NetNSExists())) {
		unlock, err := lockRun(runLock)
		if err != nil {
			fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
			return 1
		}
		defer unlock()
		return cluster.RunInNetNS(args, dir, o.cleanup, o.keep)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	// One run per machine (the kubelet's ports and cgroups are the
	// machine's): a second run, or a cleanup finding a live run, is refused.
	// A cluster run's outer harness holds the lock for the inner one.
	if !inNetNS {
		unlock, err := lockRun(runLock)
		if err != nil {
			fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
			return 1
		}
		defer unlock()
	}
	if o.cleanup {
		cl.DeleteWorkloads(context.Background())
		if err := nd.Cleanup(context.Background()); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: cleanup: %v\n", err)
			return 1
		}
		if err := cl.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: cleanup: %v\n", err)
			return 1
		}
		return 0
	}
	var filter *regexp.Regexp
	if o.run != "" {
		if filter, err = regexp.Compile(o.run); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: -run: %v\n", err)
			return 2
		}
	}
	for name, v := range map[string]string{"-kubelet": o.kubelet, "-tools": o.tools, "-mkimage": o.mkimage, "-podseq-image": o.podseqTar} {
		if v == "" {
			fmt.Fprintf(os.Stderr, "e2e: %s is required\n", name)
			return 2
		}
	}
	if o.repo, err = filepath.Abs(o.repo); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: -repo: %v\n", err)
		return 2
	}
	kubeletVer, err := binaryVersion(o.kubelet, "--version")
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		return 1
	}
	if nd.KubeletMinor, err = minorVersion(kubeletVer); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: kubelet: %v\n", err)
		return 1
	}
	containerdVer, err := binaryVersion(o.containerd, "--version")
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		return 1
	}
	proc.Logf("kubelet %s, containerd %s", kubeletVer, containerdVer)

	begin := time.Now()
	// stopAll deletes the cluster's workloads, then stops the node and the
	// control plane, whatever of them runs.
	stopAll := func() error {
		cl.DeleteWorkloads(context.Background())
		return errors.Join(nd.Cleanup(context.Background()), cl.Stop())
	}
	// Leftovers of a run that was killed: stop them before wiping the directory.
	if err := stopAll(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: cleaning up an earlier run: %v\n", err)
		return 1
	}
	if err := os.RemoveAll(dir); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		return 1
	}
	env := &Env{Repo: o.repo, Node: nd, PodseqImage: podseqImage, BusyboxImage: busyboxImage, Runs: o.runs,
		AppImage: appImage, AppImageTar: filepath.Join(dir, "images", "app.tar")}
	images, err := prepareImages(ctx, o, nd)
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		return 1
	}
	network := "cni-isolated.sh"
	if o.cluster != "" {
		if cl.Bin, err = cluster.LoadComponents(o.cluster); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
			return 2
		}
		if nd.KubeletConfig, nd.KubeletArgs, err = cl.Prepare(ctx); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: cluster: %v\n", err)
			return 1
		}
		env.Cluster = cl
		network = "cni-ptp.sh"
	}
	if err := nd.Prepare(pauseImage, filepath.Join(o.repo, "hack", "e2e", network)); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		return 1
	}
	code := 0
	defer func() {
		if o.keep {
			fmt.Printf("node left running (-keep); tear down with: %s -dir %s -cleanup\n", os.Args[0], dir)
			return
		}
		fmt.Println("tearing down")
		if err := stopAll(); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: teardown: %v\n", err)
		}
	}()
	if env.Cluster != nil {
		if err := cl.Start(ctx, nd, images); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
			return 1
		}
	} else {
		proc.Logf("starting containerd and kubelet")
		if err := nd.Start(ctx, images); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: start: %v\n", err)
			nd.Diagnose(context.Background())
			return 1
		}
	}
	setup := time.Since(begin)
	proc.Logf("kubelet healthy after %s", setup.Round(time.Millisecond))

	selected := selectScenarios(scenarios(), filter, o.bench, env.Cluster != nil)
	results := make([]Result, len(selected))
	for i, s := range selected {
		if !s.appliesTo(nd.KubeletMinor) {
			results[i] = Result{Scenario: s, NotApplicable: needs(s.MinMinor)}
			proc.Logf("[%s] %s: kubelet %s", s.Name, results[i].NotApplicable, kubeletVer)
		}
	}
	var wg sync.WaitGroup
	slots := make(chan struct{}, max(o.parallel, 1))
	for i, s := range selected {
		if s.sequential() || results[i].NotApplicable != "" {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			slots <- struct{}{}
			defer func() { <-slots }()
			results[i] = runScenario(ctx, env, s)
		}()
	}
	wg.Wait()
	for i, s := range selected {
		switch {
		case !s.sequential() || results[i].NotApplicable != "":
		case ctx.Err() == nil:
			results[i] = runScenario(ctx, env, s)
		default:
			results[i] = Result{Scenario: s, Err: ctx.Err()}
		}
	}
	failed := false
	for _, r := range results {
		failed = failed || r.Err != nil
	}
	if failed {
		fmt.Println("\n=== diagnostics (a scenario failed) ===")
		nd.Diagnose(context.Background())
		if env.Cluster != nil {
			env.Cluster.Diagnose(context.Background())
		}
		code = 1
	}
	now, total := time.Now().UTC(), time.Since(begin)
	fmt.Printf("\n=== podseq e2e summary (kubelet %s, containerd %s, %s) ===\n", kubeletVer, containerdVer, now.Format(time.RFC3339))
	fmt.Print(summary(results, setup, total))
	if o.results != "" {
		rep := newReport(o.release, kubeletVer, containerdVer, now, setup, total, results)
		if err := rep.write(o.results); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: -results: %v\n", err)
			code = 1
		}
	}
	if len(selected) == 0 {
		fmt.Fprintf(os.Stderr, "e2e: no scenario matches -run %q\n", o.run)
		code = 1
	}
	return code
}

// runLock is the machine-wide lock every harness run holds: two kubelets
// on one machine would share ports and the kubepods cgroups.
const runLock = "/tmp/podseq-e2e.lock"

// lockRun takes the lock file path, or fails at once with the holder's PID.
func lockRun(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		owner, _ := os.ReadFile(path)
		return nil, fmt.Errorf("another e2e run (pid %s) holds %s; refusing to start a second node on this machine",
			strings.TrimSpace(string(owner)), path)
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(fmt.Sprintf("%d\n", os.Getpid())), 0)
	return func() { f.Close() }, nil
}

// prepareImages fills the tools directory mounted into every test pod and
// writes the busybox and pause image tarballs with mkimage; it returns the
// tarballs to import, the podseq image last.
func prepareImages(ctx context.Context, o options, nd *node.Node) ([]string, error) {
	if err := requireStatic(o.busybox); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(nd.Tools, 0o755); err != nil {
		return nil, err
	}
	copies := map[string]string{o.busybox: "busybox"}
	for _, b := range []string{"stamp", "svc", "pause"} {
		copies[filepath.Join(o.tools, b)] = b
	}
	for src, name := range copies {
		if err := requireStatic(src); err != nil {
			return nil, err
		}
		if err := copyFile(src, filepath.Join(nd.Tools, name), 0o755); err != nil {
			return nil, err
		}
	}
	imgDir := filepath.Join(nd.Dir, "images")
	rootfs := filepath.Join(imgDir, "busybox-rootfs")
	for _, d := range []string{"bin", "tmp", "etc", "proc", "sys", "dev", "root"} {
		if err := os.MkdirAll(filepath.Join(rootfs, d), 0o755); err != nil {
			return nil, err
		}
	}
	if err := os.Chmod(filepath.Join(rootfs, "tmp"), 0o1777); err != nil {
		return nil, err
	}
	if err := copyFile(o.busybox, filepath.Join(rootfs, "bin", "busybox"), 0o755); err != nil {
		return nil, err
	}
	list, err := exec.CommandContext(ctx, o.busybox, "--list").Output()
	if err != nil {
		return nil, fmt.Errorf("%s --list: %w", o.busybox, err)
	}
	for _, applet := range strings.Fields(string(list)) {
		if applet != "busybox" {
			if err := os.Symlink("busybox", filepath.Join(rootfs, "bin", applet)); err != nil {
				return nil, err
			}
		}
	}
	if err := os.WriteFile(filepath.Join(rootfs, "etc", "passwd"),
		[]byte("root:x:0:0:root:/root:/bin/sh\nnonroot:x:65532:65532:nonroot:/:/bin/false\n"), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(rootfs, "etc", "group"), []byte("root:x:0:\nnonroot:x:65532:\n"), 0o644); err != nil {
		return nil, err
	}
	busyboxTar := filepath.Join(imgDir, "busybox.tar")
	pauseTar := filepath.Join(imgDir, "pause.tar")
	appTar := filepath.Join(imgDir, "app.tar")
	appScript := filepath.Join(imgDir, "app.sh")
	if err := os.WriteFile(appScript, []byte(appScriptText), 0o755); err != nil {
		return nil, err
	}
	// The manifests' own busybox tag, for the cluster mode's kubectl apply -k.
	manifestBusyboxTar := filepath.Join(imgDir, "busybox-manifests.tar")
	for _, args := range [][]string{
		{"-o", busyboxTar, "-tag", busyboxImage, "-rootfs", rootfs, "-cmd", "sh"},
		{"-o", manifestBusyboxTar, "-tag", manifestBusyboxImage, "-rootfs", rootfs, "-cmd", "sh"},
		{"-o", pauseTar, "-tag", pauseImage, "-entrypoint", "/pause", "-file", filepath.Join(o.tools, "pause") + ":/pause:0755"},
		{"-o", appTar, "-tag", appImage, "-rootfs", rootfs, "-file", appScript + ":/app.sh:0755", "-entrypoint", "/app.sh", "-cmd", "serve"},
	} {
		if out, err := exec.CommandContext(ctx, o.mkimage, args...).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("mkimage %s: %w: %s", strings.Join(args, " "), err, out)
		}
	}
	if _, err := os.Stat(o.podseqTar); err != nil {
		return nil, fmt.Errorf("podseq image: %w", err)
	}
	return []string{pauseTar, busyboxTar, manifestBusyboxTar, appTar, o.podseqTar}, nil
}

// appScriptText is appImage's entrypoint: it stamps app.started (the tools
// and output directories are mounted into every test pod), says how it was
// started, and waits for SIGTERM.
const appScriptText = `#!/bin/sh
` + toolsMount + `/stamp ` + outMount + `/app.started
echo "app: started as $0 $*"
trap 'exit 0' TERM INT
while true; do sleep 3600 & wait $!; done
`

// requireStatic fails unless path is an ELF executable with no interpreter:
// the test pods have no libc.
func requireStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked; the test pods need a static binary (apt-get install busybox-static)", path)
		}
	}
	return nil
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy %s: %w", src, err)
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Chmod(dst, mode)
}

// binaryVersion runs bin with args and returns the first word of its output
// that looks like a version, v1.34.4 of "Kubernetes v1.34.4", v2.4.2 or
// 1.6.20~ds1 of "containerd github.com/containerd/containerd VERSION REVISION".
func binaryVersion(bin string, args ...string) (string, error) {
	out, err := exec.Command(bin, args...).Output()
	if err != nil {
		return "", fmt.Errorf("%s %s: %w", bin, strings.Join(args, " "), err)
	}
	for _, w := range strings.Fields(string(out)) {
		if v := strings.TrimPrefix(w, "v"); v != "" && v[0] >= '0' && v[0] <= '9' && strings.Contains(v, ".") {
			return w, nil
		}
	}
	return "", fmt.Errorf("%s %s: no version in %q", bin, strings.Join(args, " "), out)
}

// minorVersion is the minor number of a Kubernetes version: 27 of v1.27.16.
func minorVersion(v string) (int, error) {
	parts := strings.SplitN(strings.TrimPrefix(v, "v"), ".", 3)
	if len(parts) < 2 || parts[0] != "1" {
		return 0, fmt.Errorf("version %q is not v1.MINOR", v)
	}
	minor, err := strconv.Atoi(parts[1])
	if err != nil {
		return 0, fmt.Errorf("version %q: minor: %w", v, err)
	}
	return minor, nil
}

// selectScenarios picks what a run runs: those -run matches, else every
// scenario but the benchmarks (unless bench); the cluster ones only with a
// cluster.
func selectScenarios(all []Scenario, filter *regexp.Regexp, bench, cluster bool) []Scenario {
	var selected []Scenario
	for _, s := range all {
		if s.Cluster && !cluster {
			continue // needs -cluster
		}
		if filter != nil && filter.MatchString(s.Name) || filter == nil && (!s.Bench || bench) {
			selected = append(selected, s)
		}
	}
	return selected
}
