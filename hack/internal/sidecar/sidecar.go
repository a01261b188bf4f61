// Package sidecar runs `podseq run --ready-after` as a simulated sidecar for
// the demo and the benchmarks, and reports the instant it turned ready.
package sidecar

import (
	"bufio"
	"encoding/json"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// Sidecar is a running `podseq run --ready-after`.
type Sidecar struct {
	// Ready receives the instant the sidecar logged that it was ready (the
	// "time" of its JSON log line), and is closed when its log ends.
	Ready <-chan time.Time
	cmd   *exec.Cmd
}

// Start starts podseq run, ready after readyAfter, serving on listen.
func Start(podseq string, readyAfter time.Duration, listen string) (*Sidecar, error) {
	cmd := exec.Command(podseq, "run", "--ready-after", readyAfter.String(), "--listen", listen, "--log-format", "json")
	logs, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	ready := make(chan time.Time, 1)
	go func() {
		defer close(ready)
		sc := bufio.NewScanner(logs)
		for sc.Scan() {
			var rec struct {
				Time time.Time `json:"time"`
				Msg  string    `json:"msg"`
			}
			if json.Unmarshal(sc.Bytes(), &rec) == nil && strings.HasPrefix(rec.Msg, "ready") {
				select {
				case ready <- rec.Time:
				default:
				}
			}
		}
	}()
	return &Sidecar{Ready: ready, cmd: cmd}, nil
}

// Stop terminates the sidecar and waits for it.
func (s *Sidecar) Stop() {
	s.cmd.Process.Signal(syscall.SIGTERM)
	s.cmd.Wait()
}
