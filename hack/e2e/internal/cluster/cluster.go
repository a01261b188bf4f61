// Package cluster is the control plane the harness runs around the node
// (etcd, the API server, the controller manager, the scheduler, kube-proxy
// and CoreDNS), its certificates, and the network namespace a cluster run
// lives in.
package cluster

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/podseq/podseq/hack/e2e/internal/node"
	"github.com/podseq/podseq/hack/e2e/internal/proc"
)

// The cluster's addresses. They all live in the network namespace the
// harness makes for a cluster run (see RunInNetNS): the node's address on a
// veth pair whose both ends stay in it, the cluster DNS address beside it,
// pods in TEST-NET-1 (one veth each, routed, cni-ptp.sh) and Services in
// TEST-NET-2. Nothing is routed out of the namespace.
const (
	NodeIP         = "203.0.113.1"
	clusterDNS     = "203.0.113.10"
	podCIDR        = "192.0.2.0/24"
	serviceCIDR    = "198.51.100.0/24"
	apiServiceIP   = "198.51.100.1"
	apiserverPort  = 6443
	etcdClientPort = 2379
	etcdPeerPort   = 2380
	clusterDomain  = "cluster.local"
)

// Component names, as components.sh prints them.
var clusterComponents = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy", "kubectl", "coredns"}

// Cluster is the control plane around the node: etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler, kube-proxy and CoreDNS, all
// processes of the harness's network namespace, with certificates made at
// start. The node's kubelet registers with it.
type Cluster struct {
	Dir   string            // <node dir>/cluster
	Bin   map[string]string // component name → binary; "version" → the Kubernetes release, from components.sh
	pki   *pki
	admin string // the admin kubeconfig
	procs map[string]*exec.Cmd
}

// clusterState is the cluster's part of what a crashed run leaves: the PIDs
// it started, by component, for the next run's cleanup.
type clusterState struct {
	PIDs    map[string]int    `json:"pids"`
	Bins    map[string]string `json:"bins"` // the binaries' base names, for alive
	Kubectl string            `json:"kubectl"`
	Admin   string            `json:"admin"` // the admin kubeconfig
}

// LoadComponents reads components.sh's NAME=PATH lines and checks that
// every cluster component is there and executable.
func LoadComponents(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("components: %w", err)
	}
	defer f.Close()
	bins := map[string]string{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("components %s:%d: want NAME=PATH, got %q", path, n, line)
		}
		bins[k] = v
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("components %s: %w", path, err)
	}
	for _, c := range append([]string{"kubelet"}, clusterComponents...) {
		p, ok := bins[c]
		if !ok {
			return nil, fmt.Errorf("components %s: no %s= line", path, c)
		}
		if st, err := os.Stat(p); err != nil || st.Mode()&0o111 == 0 || st.IsDir() {
			return nil, fmt.Errorf("components %s: %s=%s is not an executable file", path, c, p)
		}
	}
	return bins, nil
}

func (c *Cluster) path(p ...string) string { return filepath.Join(append([]string{c.Dir}, p...)...) }

func (c *Cluster) statePath() string { return c.path("state.json") }

func (c *Cluster) saveState() error {
	st := clusterState{PIDs: map[string]int{}, Bins: map[string]string{}, Kubectl: c.Bin["kubectl"], Admin: c.admin}
	for name, cmd := range c.procs {
		st.PIDs[name] = cmd.Process.Pid
		st.Bins[name] = filepath.Base(cmd.Path)
	}
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return proc.WriteFileAtomic(c.statePath(), b, 0o644)
}

// Prepare makes the certificates and kubeconfigs and sets up the node
// namespace's network: lo, the node's address, forwarding. It returns the
// kubelet configuration and flags that register the node.
func (c *Cluster) Prepare(ctx context.Context) (kubeletConfig string, kubeletArgs []string, err error) {
	if err := os.MkdirAll(c.path("etcd"), 0o700); err != nil {
		return "", nil, err
	}
	if err := setupNodeNetwork(ctx); err != nil {
		return "", nil, err
	}
	if c.pki, err = newPKI(c.path("pki")); err != nil {
		return "", nil, err
	}
	p := c.pki
	ips := []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP(NodeIP), net.ParseIP(apiServiceIP)}
	names := []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc." + clusterDomain}
	issues := []struct {
		name, cn string
		orgs     []string
		dns      []string
		ips      []net.IP
	}{
		{"apiserver", "kube-apiserver", nil, names, ips},
		{"admin", "podseq-e2e-admin", []string{"system:masters"}, nil, nil},
		{"apiserver-kubelet-client", "kube-apiserver-kubelet-client", []string{"system:masters"}, nil, nil},
		// Controllers run with the manager's own credentials
		// (no --use-service-account-credentials), so it needs every right.
		{"kube-controller-manager", "system:kube-controller-manager", []string{"system:masters"}, nil, nil},
		{"kube-scheduler", "system:kube-scheduler", nil, nil, nil},
		{"kube-proxy", "system:kube-proxy", nil, nil, nil},
		{"kubelet", "system:node:" + node.Name, []string{"system:nodes"}, nil, nil},
		{"coredns", "podseq-e2e-coredns", []string{"system:masters"}, nil, nil},
	}
	for _, i := range issues {
		if err := p.issue(i.name, i.cn, i.orgs, i.dns, i.ips); err != nil {
			return "", nil, err
		}
	}
	if err := p.serviceAccountKey(); err != nil {
		return "", nil, err
	}
	server := fmt.Sprintf("https://127.0.0.1:%d", apiserverPort)
	for _, name := range []string{"admin", "kube-controller-manager", "kube-scheduler", "kube-proxy", "kubelet", "coredns"} {
		if err := p.kubeconfig(name, server); err != nil {
			return "", nil, err
		}
	}
	c.admin = p.Kubeconfig("admin")
	resolv := c.path("resolv.conf")
	if err := os.WriteFile(resolv, []byte("nameserver "+clusterDNS+"\n"), 0o644); err != nil {
		return "", nil, err
	}
	kubeletConfig = fmt.Sprintf(`clusterDNS: [%q]
clusterDomain: %s
resolvConf: %s
nodeStatusUpdateFrequency: 2s
`, clusterDNS, clusterDomain, resolv)
	kubeletArgs = []string{
		"--kubeconfig=" + p.Kubeconfig("kubelet"),
		"--node-ip=" + NodeIP,
		// The config's address is 127.0.0.1: the API server reaches the
		// kubelet (kubectl logs) at the node's address.
		"--address=0.0.0.0",
	}
	return kubeletConfig, kubeletArgs, nil
}

// setupNodeNetwork brings up the harness namespace's loopback and the
// node's addresses on a veth pair that stays inside it, with a default
// route into it (where a packet to anywhere else ends), and turns on
// forwarding between the pods' veths. Every setting is the namespace's own.
func setupNodeNetwork(ctx context.Context) error {
	steps := [][]string{
		{"ip", "link", "set", "lo", "up"},
		{"ip", "link", "add", "e2e0", "type", "veth", "peer", "name", "e2e1"},
		{"ip", "addr", "add", NodeIP + "/32", "dev", "e2e0"},
		{"ip", "addr", "add", clusterDNS + "/32", "dev", "e2e0"},
		{"ip", "link", "set", "e2e0", "up"},
		{"ip", "link", "set", "e2e1", "up"},
		{"ip", "route", "add", "default", "dev", "e2e0", "src", NodeIP},
	}
	for _, s := range steps {
		if out, err := exec.CommandContext(ctx, s[0], s[1:]...).CombinedOutput(); err != nil {
			return fmt.Errorf("node network: %s: %w: %s", strings.Join(s, " "), err, strings.TrimSpace(string(out)))
		}
	}
	return os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1\n"), 0o644)
}

// startControlPlane starts etcd and the API server and returns once the API
// server is ready; the controller manager and the scheduler start after it.
func (c *Cluster) startControlPlane(ctx context.Context) error {
	p := c.pki
	if err := c.start(ctx, "etcd", []string{
		"--name=e2e", "--data-dir=" + c.path("etcd"),
		fmt.Sprintf("--listen-client-urls=http://127.0.0.1:%d", etcdClientPort),
		fmt.Sprintf("--advertise-client-urls=http://127.0.0.1:%d", etcdClientPort),
		fmt.Sprintf("--listen-peer-urls=http://127.0.0.1:%d", etcdPeerPort),
		fmt.Sprintf("--initial-advertise-peer-urls=http://127.0.0.1:%d", etcdPeerPort),
		fmt.Sprintf("--initial-cluster=e2e=http://127.0.0.1:%d", etcdPeerPort),
		"--unsafe-no-fsync", "--log-level=warn",
	}, httpCheck(fmt.Sprintf("http://127.0.0.1:%d/health", etcdClientPort), nil), 30*time.Second); err != nil {
		return err
	}
	tlsAdmin, err := c.adminTLS()
	if err != nil {
		return err
	}
	if err := c.start(ctx, "kube-apiserver", []string{
		fmt.Sprintf("--etcd-servers=http://127.0.0.1:%d", etcdClientPort),
		fmt.Sprintf("--secure-port=%d", apiserverPort), "--advertise-address=" + NodeIP,
		"--service-cluster-ip-range=" + serviceCIDR,
		"--tls-cert-file=" + p.Cert("apiserver"), "--tls-private-key-file=" + p.Key("apiserver"),
		"--client-ca-file=" + p.CA(),
		"--kubelet-client-certificate=" + p.Cert("apiserver-kubelet-client"),
		"--kubelet-client-key=" + p.Key("apiserver-kubelet-client"),
		"--kubelet-preferred-address-types=InternalIP",
		"--service-account-issuer=https://kubernetes.default.svc." + clusterDomain,
		"--service-account-key-file=" + filepath.Join(p.dir, "sa.pub"),
		"--service-account-signing-key-file=" + p.Key("sa"),
		"--authorization-mode=Node,RBAC", "--enable-admission-plugins=NodeRestriction",
		"--allow-privileged=true", "--profiling=false", "--v=1",
	}, httpCheck(fmt.Sprintf("https://127.0.0.1:%d/readyz", apiserverPort), tlsAdmin), 90*time.Second); err != nil {
		return err
	}
	if err := c.start(ctx, "kube-controller-manager", []string{
		"--kubeconfig=" + p.Kubeconfig("kube-controller-manager"),
		"--leader-elect=false", "--bind-address=127.0.0.1",
		"--service-account-private-key-file=" + p.Key("sa"),
		"--root-ca-file=" + p.CA(), "--service-cluster-ip-range=" + serviceCIDR,
		"--cluster-signing-cert-file=" + p.CA(), "--cluster-signing-key-file=" + p.Key("ca"),
		"--concurrent-deployment-syncs=5", "--v=1",
	}, httpCheck("https://127.0.0.1:10257/healthz", insecureTLS()), 60*time.Second); err != nil {
		return err
	}
	return c.start(ctx, "kube-scheduler", []string{
		"--kubeconfig=" + p.Kubeconfig("kube-scheduler"),
		"--leader-elect=false", "--bind-address=127.0.0.1", "--v=1",
	}, httpCheck("https://127.0.0.1:10259/healthz", insecureTLS()), 60*time.Second)
}

// startAddons starts kube-proxy (nftables mode) and CoreDNS, once the node
// is registered, and returns when both are ready.
func (c *Cluster) startAddons(ctx context.Context) error {
	p := c.pki
	proxyConfig := c.path("kube-proxy.yaml")
	if err := os.WriteFile(proxyConfig, []byte(fmt.Sprintf(`apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: nftables
clientConnection:
  kubeconfig: %s
hostnameOverride: %s
clusterCIDR: %s
bindAddress: 127.0.0.1
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
nodePortAddresses: ["%s/32"]
# Leave the conntrack table's size and timeouts as they are.
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
`, p.Kubeconfig("kube-proxy"), node.Name, podCIDR, NodeIP)), 0o644); err != nil {
		return err
	}
	if err := c.start(ctx, "kube-proxy", []string{"--config=" + proxyConfig, "--v=1"},
		httpCheck("http://127.0.0.1:10256/healthz", nil), 60*time.Second); err != nil {
		return err
	}
	corefile := c.path("Corefile")
	if err := os.WriteFile(corefile, []byte(fmt.Sprintf(`.:53 {
    errors
    health 127.0.0.1:8080
    ready 127.0.0.1:8181
    kubernetes %s in-addr.arpa ip6.arpa {
        kubeconfig %s
        pods insecure
        ttl 1
        fallthrough in-addr.arpa ip6.arpa
    }
    loadbalance
}
`, clusterDomain, p.Kubeconfig("coredns"))), 0o644); err != nil {
		return err
	}
	return c.start(ctx, "coredns", []string{"-conf", corefile},
		httpCheck("http://127.0.0.1:8181/ready", nil), 60*time.Second)
}

// start runs component name with args, logging to logs/NAME.log, and waits
// until ready answers. A component that exits or does not get ready in time
// fails the start with one line naming it and its log's last lines.
func (c *Cluster) start(ctx context.Context, name string, args []string, ready func(context.Context) error, limit time.Duration) error {
	bin := c.Bin[name]
	if bin == "" {
		return fmt.Errorf("%s: no binary (components file)", name)
	}
	logPath := c.path("logs", name+".log")
	cmd, exited, err := proc.StartDaemon(logPath, bin, nil, args...)
	if err != nil {
		return fmt.Errorf("%s did not start: %w", name, err)
	}
	if c.procs == nil {
		c.procs = map[string]*exec.Cmd{}
	}
	c.procs[name] = cmd
	if err := c.saveState(); err != nil {
		return err
	}
	began := time.Now()
	if err := waitReady(ctx, exited, cmd, ready, limit); err != nil {
		return fmt.Errorf("%s did not come up: %v; last lines of %s:\n%s", name, err, logPath, indent(proc.Tail(logPath, 15)))
	}
	proc.Logf("%s ready after %s", name, time.Since(began).Round(time.Millisecond))
	return nil
}

// waitReady calls ready until it returns nil, the process exits, ctx ends
// or limit passes.
func waitReady(ctx context.Context, exited <-chan struct{}, cmd *exec.Cmd, ready func(context.Context) error, limit time.Duration) error {
	return proc.PollUntil(ctx, limit, 100*time.Millisecond, exited, func() error {
		select {
		case <-exited:
			return proc.GiveUp(fmt.Errorf("exited (%s)", cmd.ProcessState))
		default:
		}
		return ready(ctx)
	})
}

func indent(s string) string {
	return "    " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n    ")
}

// httpCheck returns a readiness check that wants 200 from url.
func httpCheck(url string, tlsConfig *tls.Config) func(context.Context) error {
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsConfig}}
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s", url, resp.Status)
		}
		return nil
	}
}

func insecureTLS() *tls.Config { return &tls.Config{InsecureSkipVerify: true} }

// adminTLS trusts the cluster CA and presents the admin certificate.
func (c *Cluster) adminTLS() (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(c.pki.Cert("admin"), c.pki.Key("admin"))
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(c.pki.caCert)
	return &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}}, nil
}

// AdminKubeconfig is the cluster admin's kubeconfig, which Prepare writes.
func (c *Cluster) AdminKubeconfig() string { return c.admin }

// IssueServerCert signs a serving certificate for ip with the cluster's CA,
// named name, and returns the files of the certificate, its key and the CA.
func (c *Cluster) IssueServerCert(name string, ip net.IP) (cert, key, ca string, err error) {
	if err := c.pki.issue(name, ip.String(), nil, nil, []net.IP{ip}); err != nil {
		return "", "", "", err
	}
	return c.pki.Cert(name), c.pki.Key(name), c.pki.CA(), nil
}

// Kubectl runs kubectl as the cluster admin and returns what it printed on
// stdout: the callers parse it, and a warning on stderr (an API
// deprecation, client-side throttling) must not end up in their JSON or log
// lines. Stderr goes into the error, or, when kubectl succeeded, into the
// harness's log.
func (c *Cluster) Kubectl(ctx context.Context, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	cmd := c.KubectlCmd(ctx, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()+"\n"+string(out)))
	}
	if w := strings.TrimSpace(stderr.String()); w != "" {
		proc.Logf("kubectl %s: stderr: %s", strings.Join(args, " "), w)
	}
	return string(out), nil
}

// KubectlCmd is kubectl as the cluster admin, not started.
func (c *Cluster) KubectlCmd(ctx context.Context, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, c.Bin["kubectl"], append([]string{"--kubeconfig=" + c.admin}, args...)...)
}

// waitNodeReady waits until the node is registered and Ready.
func (c *Cluster) waitNodeReady(ctx context.Context, limit time.Duration) error {
	began := time.Now()
	err := proc.Poll(ctx, limit, 250*time.Millisecond, func() error {
		out, err := c.Kubectl(ctx, "get", "node", node.Name, "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status}`)
		if err != nil {
			return err
		}
		if strings.TrimSpace(out) != "True" {
			return fmt.Errorf("node %s Ready=%q", node.Name, strings.TrimSpace(out))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("node %s did not get Ready: %w", node.Name, err)
	}
	proc.Logf("node %s Ready after %s", node.Name, time.Since(began).Round(time.Millisecond))
	return nil
}

// Diagnose prints the tails of the control plane's logs.
func (c *Cluster) Diagnose(ctx context.Context) {
	for _, name := range clusterComponents {
		if name == "kubectl" {
			continue
		}
		fmt.Printf("\n--- tail of %s.log ---\n%s", name, proc.Tail(c.path("logs", name+".log"), 20))
	}
	if out, err := c.Kubectl(ctx, "get", "pods", "-A", "-o", "wide"); err == nil {
		fmt.Printf("\n--- kubectl get pods -A ---\n%s", out)
	}
}

// DeleteWorkloads stops the controllers (nothing recreates a pod), then
// deletes every pod of the e2e namespaces, so that the kubelet stops them. It
// works from the state file, so a cleanup of a crashed run can call it too;
// it does nothing when no API server runs.
func (c *Cluster) DeleteWorkloads(ctx context.Context) {
	st, err := c.loadState()
	if err != nil || !proc.Alive(st.PIDs["kube-apiserver"], st.Bins["kube-apiserver"]) || st.Kubectl == "" {
		return
	}
	for _, name := range []string{"kube-controller-manager", "kube-scheduler"} {
		_ = proc.StopPID(st.PIDs[name], st.Bins[name], 10*time.Second)
	}
	kubectl := func(args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, st.Kubectl, append([]string{"--kubeconfig=" + st.Admin, "--request-timeout=10s"}, args...)...).Output()
		return string(out), err
	}
	out, err := kubectl("get", "namespaces", "-o", "name")
	if err != nil {
		return
	}
	for _, ns := range strings.Fields(out) {
		ns = strings.TrimPrefix(ns, "namespace/")
		if strings.HasPrefix(ns, "e2e-") {
			_, _ = kubectl("delete", "pods", "--all", "-n", ns, "--grace-period=1", "--wait=false")
		}
	}
}

func (c *Cluster) loadState() (clusterState, error) {
	var st clusterState
	b, err := os.ReadFile(c.statePath())
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, err
	}
	return st, json.Unmarshal(b, &st)
}

// Stop stops every component a run (this one or a crashed one) recorded,
// the API server's clients first, etcd last.
func (c *Cluster) Stop() error {
	st, err := c.loadState()
	if err != nil {
		return err
	}
	var errs []error
	for _, name := range []string{"coredns", "kube-proxy", "kube-scheduler", "kube-controller-manager", "kube-apiserver", "etcd"} {
		if pid := st.PIDs[name]; pid > 0 {
			errs = append(errs, proc.StopPID(pid, st.Bins[name], 15*time.Second))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if err := os.Remove(c.statePath()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// Start brings up a cluster run: the control plane and the node
// (containerd, images, kubelet) side by side, then, once the node is
// registered and Ready, kube-proxy and CoreDNS. On a failure it prints the
// failing part's diagnostics; the caller tears down what did start.
func (c *Cluster) Start(ctx context.Context, n *node.Node, images []string) error {
	proc.Logf("starting the control plane, containerd and the kubelet (%s)", c.Bin["version"])
	nodeErr := make(chan error, 1)
	go func() { nodeErr <- n.Start(ctx, images) }()
	cpErr := c.startControlPlane(ctx)
	if err := <-nodeErr; err != nil {
		n.Diagnose(context.Background())
		return fmt.Errorf("start: %w", err)
	}
	if cpErr != nil {
		return fmt.Errorf("control plane: %w", cpErr)
	}
	if err := c.waitNodeReady(ctx, 90*time.Second); err != nil {
		n.Diagnose(context.Background())
		c.Diagnose(context.Background())
		return err
	}
	if err := c.startAddons(ctx); err != nil {
		return fmt.Errorf("addons: %w", err)
	}
	return nil
}
