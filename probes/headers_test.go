package probes

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
)

// streamingListener answers every connection with first, then repeats
// forever until the client hangs up: endless headers, or endless garbage.
func streamingListener(t *testing.T, first, repeat string) string {
	t.Helper()
	l := localListener(t)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	chunk := bytes.Repeat([]byte(repeat), max(1, (16<<10)/len(repeat)))
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				go func() { <-stop; c.Close() }()
				// Answer once the request (or HTTP/2 preface) came.
				if _, err := c.Read(make([]byte, 4<<10)); err != nil {
					return
				}
				if _, err := c.Write([]byte(first)); err != nil {
					return
				}
				for {
					if _, err := c.Write(chunk); err != nil {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() {
		close(stop)
		l.Close()
		wg.Wait()
	})
	return l.Addr().String()
}

// TestHostileEndlessHeaders: a target that streams headers, or garbage with
// no line end, costs each attempt at most MaxHeaderBytes of reading, not
// net/http's 10 MiB, and the failure says so.
func TestHostileEndlessHeaders(t *testing.T) {
	t.Parallel()
	want := "response headers longer than " + strconv.Itoa(MaxHeaderBytes) + " bytes: the most an attempt reads"
	for _, tt := range []struct{ name, first, repeat string }{
		{"endless headers", "HTTP/1.1 200 OK\r\n", "X-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n"},
		{"endless status line", "HTTP/1.1 200 ", "z"},
		{"garbage", "", "\x00\xff garbage "},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			addr := streamingListener(t, tt.first, tt.repeat)
			for _, raw := range []string{"http://" + addr + "/", "grpc://" + addr} {
				tg := mustParse(t, raw, Options{})
				ctx, cancel := context.WithTimeout(t.Context(), hangBound)
				err := tg.Prober.Check(ctx)
				cancel()
				closeIdle(tg)
				if raw[0] == 'g' {
					// gRPC over HTTP/2 reads frames, not lines: garbage is a
					// protocol error at once, never a long read.
					if err == nil || errors.Is(err, context.DeadlineExceeded) {
						t.Errorf("%s: %v, want a protocol error", raw, err)
					}
					continue
				}
				if err == nil || err.Error() != want {
					t.Errorf("%s: %v, want %q", raw, err, want)
				}
			}
		})
	}
}
