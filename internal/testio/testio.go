// Package testio holds the writers that tests of several packages hand to a
// child process as its stdout or stderr.
package testio

import (
	"bytes"
	"strings"
	"sync"
)

// Buffer is a bytes.Buffer safe for a writer and readers at once.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p to the buffer.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns what was written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// LineWriter calls Line with every complete line written to it, without
// its newline, one call at a time.
type LineWriter struct {
	Line func(string)
	mu   sync.Mutex
	buf  []byte
}

// Write splits p, and what came before it, into lines.
func (w *LineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		w.Line(string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
}

// FirstDiff returns the 1-based number of the first line where two texts
// differ and that line of each ("" past the end); n is 0 when they are equal.
func FirstDiff(want, got string) (n int, wantLine, gotLine string) {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < max(len(wl), len(gl)); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			return i + 1, w, g
		}
	}
	return 0, "", ""
}
