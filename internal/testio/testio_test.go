package testio

import (
	"slices"
	"testing"
)

func TestLineWriter(t *testing.T) {
	var got []string
	w := &LineWriter{Line: func(l string) { got = append(got, l) }}
	for _, p := range []string{"one\ntw", "o\n", "", "three\nfour\n", "partial"} {
		if n, err := w.Write([]byte(p)); n != len(p) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", p, n, err)
		}
	}
	if want := []string{"one", "two", "three", "four"}; !slices.Equal(got, want) {
		t.Errorf("lines %q, want %q (and no partial line)", got, want)
	}
}

func TestBuffer(t *testing.T) {
	var b Buffer
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 100 {
			_, _ = b.Write([]byte("x"))
		}
	}()
	_ = b.String() // concurrently with the writes: the race detector watches
	<-done
	if got := b.String(); len(got) != 100 {
		t.Errorf("%d bytes, want 100", len(got))
	}
}

func TestFirstDiff(t *testing.T) {
	for _, tc := range []struct {
		want, got string
		n         int
		w, g      string
	}{
		{"a\nb\n", "a\nb\n", 0, "", ""},
		{"a\nb\n", "a\nc\n", 2, "b", "c"},
		{"a\n", "a\nb\n", 2, "", "b"},
		{"x", "", 1, "x", ""},
	} {
		n, w, g := FirstDiff(tc.want, tc.got)
		if n != tc.n || w != tc.w || g != tc.g {
			t.Errorf("FirstDiff(%q, %q) = %d, %q, %q; want %d, %q, %q", tc.want, tc.got, n, w, g, tc.n, tc.w, tc.g)
		}
	}
}
