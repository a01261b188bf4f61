package inject

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/podseq/podseq/internal/testnet"
	"github.com/podseq/podseq/tombstone"
)

// helperEnv makes the test binary a helper process instead of the tests:
// "serve" listens on $ADDR after 500 ms until SIGTERM; "client" dials $ADDR
// once and exits 0 if it answers.
const helperEnv = "INJECT_TEST_HELPER"

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
		code := m.Run()
		if podseqPath != "" {
			os.RemoveAll(filepath.Dir(podseqPath))
		}
		os.Exit(code)
	case "serve":
		os.Exit(testnet.ServeAfter("500ms", os.Getenv("ADDR")))
	case "client":
		c, err := net.DialTimeout("tcp", os.Getenv("ADDR"), time.Second)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		c.Close()
		os.Exit(0)
	default:
		fmt.Fprintln(os.Stderr, "unknown helper", os.Getenv(helperEnv))
		os.Exit(100)
	}
}

var (
	podseqOnce sync.Once
	podseqPath string
	podseqErr  error
)

// podseqBinary builds cmd/podseq once per test run.
func podseqBinary(t *testing.T) string {
	t.Helper()
	podseqOnce.Do(func() {
		dir, err := os.MkdirTemp("", "inject-podseq-")
		if err != nil {
			podseqErr = err
			return
		}
		podseqPath = dir + "/podseq"
		cmd := exec.Command("go", "build", "-o", podseqPath, "../cmd/podseq")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			podseqErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if podseqErr != nil {
		t.Fatal(podseqErr)
	}
	return podseqPath
}

// TestHostNetworkTombstoneOrders: the tombstone mode on hostNetwork binds
// no port (--listen=none) and still orders: two pods of that DaemonSet on
// one node (one network namespace, here the test's) run at once, each
// pod's podseq run processes with their own graveyard, the commands inject
// wrote, podseq built from this tree: both pods end 0, and in each the
// app was born after its proxy was ready, and the proxy died after the app.
func TestHostNetworkTombstoneOrders(t *testing.T) {
	t.Parallel()
	const manifest = `apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata:
      labels: {app: agent}
      annotations:
        after.podseq.dev/app: proxy
    spec:
      hostNetwork: true
      restartPolicy: Never
      containers:
      - {name: app, image: a, command: [/client]}
      - name: proxy
        image: p
        command: [/serve]
        readinessProbe: {tcpSocket: {host: 127.0.0.1, port: %s}}
`
	bin := podseqBinary(t)
	var wg sync.WaitGroup
	graveyards := make([]string, 2)
	for pod := range graveyards {
		addr := testnet.Reserve(t)
		_, port, _ := net.SplitHostPort(addr)
		root, _ := injectOne(t, fmt.Sprintf(manifest, port), Options{})
		tmpl, _ := template(root)
		cmds := map[string][]string{}
		for _, c := range items(path(tmpl, "spec", "containers")) {
			cmds[str(c, "name")] = stringsOf(get(c, "command"))
		}
		for name, argv := range cmds {
			if !slices.Contains(argv, "--listen=none") || slices.ContainsFunc(argv, func(a string) bool { return strings.HasPrefix(a, "--listen=:") }) {
				t.Fatalf("%s: %q: want --listen=none and no port", name, argv)
			}
		}
		graveyard := t.TempDir()
		graveyards[pod] = graveyard
		wg.Add(2)
		for name, argv := range cmds {
			go func() {
				defer wg.Done()
				args := slices.Clone(argv[1:])
				for i, a := range args {
					if a == "--graveyard="+GraveyardDir {
						args[i] = "--graveyard=" + graveyard
					}
				}
				helper := strings.TrimPrefix(args[len(args)-1], "/")
				args[len(args)-1] = os.Args[0]
				cmd := exec.Command(bin, args...)
				cmd.Env = append(os.Environ(), helperEnv+"="+helper, "ADDR="+addr)
				var stderr bytes.Buffer
				cmd.Stderr = &stderr
				if err := cmd.Run(); err != nil {
					t.Errorf("pod %d: %s: %q: %v\n%s", pod, name, argv, err, stderr.String())
				}
			}()
		}
	}
	wg.Wait()
	for pod, graveyard := range graveyards {
		app, err := tombstone.Read(graveyard, "app")
		if err != nil {
			t.Fatal(err)
		}
		proxy, err := tombstone.Read(graveyard, "proxy")
		if err != nil {
			t.Fatal(err)
		}
		if proxy.Ready.IsZero() || app.Born.Before(proxy.Ready) || proxy.Died.Before(app.Died) || app.ExitCode != 0 {
			t.Errorf("pod %d: proxy ready %s died %s, app born %s died %s (exit %d): want ready < born, app's death < proxy's", pod,
				proxy.Ready.Format(time.StampMicro), proxy.Died.Format(time.StampMicro), app.Born.Format(time.StampMicro), app.Died.Format(time.StampMicro), app.ExitCode)
		}
	}
}
