package probes

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/podseq/podseq/tombstone"
)

// BenchmarkTombstoneRelease measures the birth release: the time from the
// moment a dependency's podseq run starts writing "ready" to its tombstone
// (temporary file, fsync, rename) to the moment a Wait on tombstone://NAME,
// already blocked on the graveyard, returns. This is the path of
// `podseq run --birth-deps` and `podseq wait tombstone://NAME`. It reports the
// median and the 90th percentile in milliseconds (goal: median <= 2 ms), and
// the median time the writer itself took (mostly its fsyncs). TMPDIR picks
// the filesystem: an emptyDir is on the node's disk, or tmpfs with
// medium: Memory.
func BenchmarkTombstoneRelease(b *testing.B) {
	const minSamples = 100
	dir := b.TempDir()
	w, err := tombstone.CreateDeclared(dir, "dep", tombstone.Declared{}, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	if err := w.Born(1, time.Now()); err != nil {
		b.Fatal(err)
	}
	tg, err := Parse("tombstone://dep", Options{Graveyard: dir})
	if err != nil {
		b.Fatal(err)
	}
	// At least minSamples releases, whatever b.N (make bench runs -benchtime
	// 1x): a median needs samples.
	n := max(b.N, minSamples)
	lat := make([]time.Duration, 0, n)
	writes := make([]time.Duration, 0, n)
	b.ResetTimer()
	for range n {
		b.StopTimer()
		if err := w.NotReady(time.Now()); err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		done := make(chan time.Time, 1)
		go func() {
			if _, err := Wait(ctx, []*Target{tg}, Schedule{}, nil, nil); err != nil {
				b.Error(err)
			}
			done <- time.Now()
		}()
		time.Sleep(5 * time.Millisecond) // let Wait block on the graveyard
		b.StartTimer()
		start := time.Now()
		if err := w.Ready(start); err != nil {
			b.Fatal(err)
		}
		writes = append(writes, time.Since(start))
		end := <-done
		cancel()
		lat = append(lat, end.Sub(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	slices.Sort(writes)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(lat[len(lat)/2]), "median-ms")
	b.ReportMetric(ms(lat[len(lat)*9/10]), "p90-ms")
	b.ReportMetric(ms(writes[len(writes)/2]), "write-median-ms")
	b.ReportMetric(0, "ns/op") // wall time per op includes the setup pause: meaningless
}
