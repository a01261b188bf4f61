package cluster

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/podseq/podseq/hack/e2e/internal/proc"
)

// A cluster run lives in a network namespace of its own, /var/run/netns/
// podseq-e2e: the harness makes it, runs itself again inside it (nsenter, so
// only the network namespace changes: the mounts and cgroups stay the
// machine's, which the kubelet needs), and deletes it afterwards. The control
// plane's ports, the pods' routes, kube-proxy's nftables rules and the
// forwarding sysctl are the namespace's: deleting it removes them all.
const (
	clusterNetNS = "podseq-e2e"
	// inNetNSEnv marks the harness running inside the namespace; the outer
	// harness holds the machine lock for it.
	inNetNSEnv = "PODSEQ_E2E_IN_NETNS"
)

func netnsPath() string { return filepath.Join("/var/run/netns", clusterNetNS) }

// InNetNS reports whether this harness is the inner one, which RunInNetNS
// started inside the namespace.
func InNetNS() bool { return os.Getenv(inNetNSEnv) != "" }

// NetNSExists reports whether the namespace is there: a cluster run is
// under way or a killed one left it.
func NetNSExists() bool {
	_, err := os.Stat(netnsPath())
	return err == nil
}

// RunInNetNS is the outer harness of a cluster run, called under the machine
// lock: it cleans up what a crashed run left in the namespace, makes a fresh
// one, runs args (the harness's own flags) inside it, cleans up again, and
// deletes the namespace. It returns the inner run's exit code. With cleanupOnly it
// only cleans up a namespace a killed run left, and deletes it.
func RunInNetNS(args []string, dir string, cleanupOnly, keep bool) int {
	if cleanupOnly {
		code := inner("-dir", dir, "-cleanup")
		if err := deleteNetNS(); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
			return 1
		}
		return code
	}
	if NetNSExists() {
		proc.Logf("cleaning up the namespace %s an earlier run left", clusterNetNS)
		_ = inner("-dir", dir, "-cleanup")
		if err := deleteNetNS(); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
			return 1
		}
	}
	if out, err := exec.Command("ip", "netns", "add", clusterNetNS).CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: ip netns add %s: %v: %s", clusterNetNS, err, out)
		return 1
	}
	// ^C reaches both harnesses (one process group): the inner one tears
	// down; this one waits for it, then cleans up what is left.
	signal.Ignore(syscall.SIGINT, syscall.SIGTERM)
	code := inner(args...)
	if code != 0 || !keep {
		if rc := inner("-dir", dir, "-cleanup"); rc != 0 && code == 0 {
			code = rc
		}
		if err := deleteNetNS(); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
			if code == 0 {
				code = 1
			}
		}
	}
	return code
}

// inner runs this binary with args inside the namespace.
func inner(args ...string) int {
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		return 1
	}
	cmd := exec.Command("nsenter", append([]string{"--net=" + netnsPath(), "--", self}, args...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), inNetNSEnv+"=1")
	err = cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: nsenter: %v\n", err)
		return 1
	}
	return 0
}

func deleteNetNS() error {
	if out, err := exec.Command("ip", "netns", "delete", clusterNetNS).CombinedOutput(); err != nil {
		return fmt.Errorf("ip netns delete %s: %w: %s", clusterNetNS, err, out)
	}
	return nil
}
