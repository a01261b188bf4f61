package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// benchClients is how many clients send reviews at once, as an API server
// under a burst of pod creations does.
const benchClients = 16

// emptyHandler is the baseline: it decodes the review and answers allowed
// with no patch, over the same TLS, as a webhook doing nothing would.
func emptyHandler(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, DefaultMaxBodyBytes))
	if err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	rv, err := DecodeReview(body)
	if err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	out, _ := json.Marshal(AdmissionReview{APIVersion: ReviewAPIVersion, Kind: ReviewKind, Response: &AdmissionResponse{UID: rv.Request.UID, Allowed: true}})
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(out)
}

// benchResult is one side of the comparison.
type benchResult struct {
	perSec, p50, p99 float64 // reviews per second, milliseconds
	allocPerReview   float64 // bytes, client and server
}

// runLoad sends n reviews from benchClients clients and measures each.
func runLoad(b *testing.B, url string, client *http.Client, body []byte, n int) benchResult {
	b.Helper()
	lat := make([]time.Duration, n)
	var next atomic.Int64
	var failed atomic.Value
	var ms0, ms1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	began := time.Now()
	var wg sync.WaitGroup
	for range benchClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				t0 := time.Now()
				resp, err := client.Post(url, "application/json", bytes.NewReader(body))
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				if err != nil {
					failed.Store(err)
					return
				}
				lat[i] = time.Since(t0)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(began)
	runtime.ReadMemStats(&ms1)
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	slices.Sort(lat)
	q := func(p float64) float64 { return float64(lat[int(p*float64(n-1))].Microseconds()) / 1000 }
	return benchResult{perSec: float64(n) / elapsed.Seconds(), p50: q(.50), p99: q(.99),
		allocPerReview: float64(ms1.TotalAlloc-ms0.TotalAlloc) / float64(n)}
}

// BenchmarkAdmission reviews a pod to order (webPod) over TLS on loopback
// with 16 clients, against podseq's webhook and, in the same run, against
// a handler that answers an empty patch; it prints both and their ratio.
//
//	go test -run '^$' -bench Admission -benchtime 4000x ./webhook/
func BenchmarkAdmission(b *testing.B) {
	body := reviewOf("bench", webPod)
	results := map[string]benchResult{}
	for _, name := range []string{"empty", "podseq"} {
		b.Run(name, func(b *testing.B) {
			ts := startServer(b, Config{})
			url := ts.url + PathMutate
			if name == "empty" {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					b.Fatal(err)
				}
				srv := &http.Server{Handler: http.HandlerFunc(emptyHandler), TLSConfig: ts.s.TLSConfig()}
				go func() { _ = srv.ServeTLS(ln, "", "") }()
				b.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
				url = "https://" + ln.Addr().String() + PathMutate
			}
			runLoad(b, url, ts.client, body, 200) // warm: connections, caches
			b.ResetTimer()
			r := runLoad(b, url, ts.client, body, max(b.N, benchClients))
			b.StopTimer()
			b.ReportMetric(r.perSec, "reviews/s")
			b.ReportMetric(r.p50, "p50-ms")
			b.ReportMetric(r.p99, "p99-ms")
			b.ReportMetric(r.allocPerReview, "alloc-B/review")
			results[name] = r
		})
	}
	e, p := results["empty"], results["podseq"]
	if e.p99 > 0 && p.p99 > 0 {
		fmt.Printf("%d clients over TLS on loopback (GOMAXPROCS %d):\n"+
			"  handler       reviews/s     p50 ms   p99 ms   alloc B/review\n"+
			"  empty patch   %9.0f   %8.2f %8.2f   %10.0f\n"+
			"  podseq        %9.0f   %8.2f %8.2f   %10.0f\n"+
			"  podseq/empty: p99 %.2fx, throughput %.2fx (goals: p99 under 5 ms, under 2x)",
			benchClients, runtime.GOMAXPROCS(0), e.perSec, e.p50, e.p99, e.allocPerReview, p.perSec, p.p50, p.p99, p.allocPerReview,
			p.p99/e.p99, p.perSec/e.perSec)
		fmt.Println()
	}
}
