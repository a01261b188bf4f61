// Command svc is the e2e scenarios' stand-in sidecar: an HTTP server that
// listens at once, answers GET /ready with 503 until -ready-after has passed
// and 200 from then on (GET /healthz always 200), and stamps (appends, as the stamp command does) the moment it
// turns ready, so "sidecar ready -> app started" is measured from the exact
// flip. It exits 0 on SIGTERM or SIGINT.
//
//	svc -addr 127.0.0.1:8080 -ready-after 3s -stamp /out/sidecar.ready
//
// Exit codes: 0 stopped by a signal, 1 could not listen, 2 bad flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	fs := flag.NewFlagSet("svc", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8080", "listen address")
	after := fs.Duration("ready-after", 3*time.Second, "time from start until /ready answers 200 (negative: never)")
	stampPath := fs.String("stamp", "", "file to stamp when turning ready")
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "svc: %v\n", err)
		os.Exit(1)
	}
	var ready atomic.Bool
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/ready", func(w http.ResponseWriter, _ *http.Request) {
		if !ready.Load() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if *after >= 0 {
		time.AfterFunc(*after, func() {
			// Stamped before /ready answers ok: nothing that answer causes
			// can come before the stamp, nor find it missing.
			defer ready.Store(true)
			if *stampPath != "" {
				now := time.Now()
				line := fmt.Sprintf("%d %s\n", now.UnixNano(), now.UTC().Format(time.RFC3339Nano))
				// Appended, as stamp does: one line a start of svc.
				f, err := os.OpenFile(*stampPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o666)
				if err == nil {
					_, err = f.WriteString(line)
					if cerr := f.Close(); err == nil {
						err = cerr
					}
				}
				if err != nil {
					fmt.Fprintf(os.Stderr, "svc: %v\n", err)
				}
			}
		})
	}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintf(os.Stderr, "svc: %v\n", err)
		os.Exit(1)
	}
}
