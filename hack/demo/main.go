// Command demo shows podseq's main job on this machine, with nothing else
// installed: a simulated sidecar that takes a while to load its config, and a
// `podseq wait` (what the sidecar's postStart hook runs) that is released the
// moment the sidecar turns ready.
//
// Act 1 runs the sidecar as `podseq run --ready-after`, so the wait is released
// by push (a long poll). Act 2 runs a plain HTTP server that answers 503 until
// it is ready, so the wait polls. Each act prints how long podseq wait waited
// and how late it was released after the sidecar turned ready.
//
//	go run ./demo -podseq ../bin/podseq [-delay 3s]
package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sync/atomic"
	"time"

	"github.com/podseq/podseq/hack/internal/loopback"
	"github.com/podseq/podseq/hack/internal/sidecar"
)

func main() {
	podseq := flag.String("podseq", "bin/podseq", "the podseq binary")
	delay := flag.Duration("delay", 3*time.Second, "how long the simulated sidecar takes to turn ready")
	flag.Parse()
	if err := demo(*podseq, *delay); err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		os.Exit(1)
	}
}

func demo(podseq string, delay time.Duration) error {
	if _, err := os.Stat(podseq); err != nil {
		return fmt.Errorf("%w (run make build first)", err)
	}
	port, err := loopback.FreePort()
	if err != nil {
		return err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	fmt.Printf("== act 1: push release ==\n")
	fmt.Printf("$ podseq run --ready-after %s --listen %s &   # the sidecar, loading its config\n", delay, addr)
	fmt.Printf("$ podseq wait http://%s/ready                  # its postStart hook\n", addr)
	side, err := sidecar.Start(podseq, delay, addr)
	if err != nil {
		return err
	}
	defer side.Stop()
	released, waited, err := wait(podseq, "http://"+addr+"/ready")
	if err != nil {
		return err
	}
	var ready time.Time
	select {
	case ready = <-side.Ready:
	case <-time.After(5 * time.Second):
		return errors.New("the sidecar never logged that it was ready")
	}
	report(waited, released.Sub(ready))

	fmt.Printf("\n== act 2: polling a sidecar that is not podseq ==\n")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	var isReady atomic.Bool
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !isReady.Load() {
			http.Error(w, "loading config", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})}
	go srv.Serve(ln)
	defer srv.Close()
	url := "http://" + ln.Addr().String() + "/ready"
	fmt.Printf("(a plain HTTP server answers 503 for %s, then 200)\n", delay)
	fmt.Printf("$ podseq wait %s\n", url)
	ready2 := make(chan time.Time, 1)
	time.AfterFunc(delay, func() {
		isReady.Store(true)
		ready2 <- time.Now()
	})
	released, waited, err = wait(podseq, url)
	if err != nil {
		return err
	}
	report(waited, released.Sub(<-ready2))
	fmt.Printf("\nIn a pod, kubelet starts the next container as soon as podseq wait exits: see manifests/demo.\n")
	return nil
}

// wait runs podseq wait on url, passing its output through, and returns the
// instant it exited and how long it ran.
func wait(podseq, url string) (time.Time, time.Duration, error) {
	cmd := exec.Command(podseq, "wait", "--timeout", "1m", url)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stdout
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return time.Time{}, 0, fmt.Errorf("podseq wait: %w", err)
	}
	end := time.Now()
	return end, end.Sub(start), nil
}

func report(waited, late time.Duration) {
	fmt.Printf("waited %s; released %.1f ms after the sidecar turned ready\n",
		waited.Round(time.Millisecond), float64(late)/float64(time.Millisecond))
}
