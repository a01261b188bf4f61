package main

import (
	"bytes"
	"fmt"
	"net"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// hostileServer answers every request on a loopback listener the way its
// kind says, and counts requests.
type hostileServer struct {
	l        net.Listener
	requests atomic.Int64
	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    map[net.Conn]bool
}

// hostileKinds are the targets of the hostile table: what each answers.
var hostileKinds = []struct{ name, first, repeat string }{
	{"normal: 503, headers of a few bytes", "", ""},
	{"endless headers", "HTTP/1.1 200 OK\r\n", "X-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n"},
	{"endless garbage, no line end", "", "\x00\xff garbage "},
}

func newHostileServer(first, repeat string) (*hostileServer, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &hostileServer{l: l, conns: map[net.Conn]bool{}}
	chunk := []byte("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n")
	if repeat != "" {
		chunk = bytes.Repeat([]byte(repeat), (16<<10)/len(repeat))
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns[c] = true
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer func() {
					s.mu.Lock()
					delete(s.conns, c)
					s.mu.Unlock()
					c.Close()
				}()
				buf := make([]byte, 4<<10)
				for {
					if _, err := c.Read(buf); err != nil { // a request (one read is enough here)
						return
					}
					s.requests.Add(1)
					if _, err := c.Write([]byte(first)); err != nil {
						return
					}
					if repeat == "" {
						if _, err := c.Write(chunk); err != nil {
							return
						}
						continue // keep-alive: the next request
					}
					for {
						if _, err := c.Write(chunk); err != nil {
							return
						}
					}
				}
			}()
		}
	}()
	return s, nil
}

func (s *hostileServer) close() {
	s.l.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// hostile measures the peak RSS and CPU of a podseq wait that runs to its
// deadline against a normal target that is not ready and against hostile
// ones, side by side.
func (b *bench) hostile() error {
	const timeout = 2 * time.Second
	runs := max(1, min(b.runs, 3))
	fmt.Printf("| target (podseq wait --timeout %s, %d runs) | peak RSS (max) | CPU (%% of a core) | attempts a run |\n", timeout, runs)
	fmt.Println("|---|---|---|---|")
	for _, k := range hostileKinds {
		s, err := newHostileServer(k.first, k.repeat)
		if err != nil {
			return err
		}
		var rss int64
		var cpu time.Duration
		for range runs {
			cmd := exec.Command(b.podseq, "wait", "--quiet", "--timeout", timeout.String(), "http://"+s.l.Addr().String()+"/ready")
			err := cmd.Run()
			if cmd.ProcessState == nil || cmd.ProcessState.ExitCode() != 1 {
				s.close()
				return fmt.Errorf("%s: podseq wait: %v, want exit 1 at the deadline", k.name, err)
			}
			ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
			rss = max(rss, ru.Maxrss)
			cpu += cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
		}
		s.close()
		fmt.Printf("| %s | %.1f MB | %.1f | %d |\n", k.name, float64(rss)/1024,
			100*float64(cpu)/float64(time.Duration(runs)*timeout), s.requests.Load()/int64(runs))
	}
	return nil
}
