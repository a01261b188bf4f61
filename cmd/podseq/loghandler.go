package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"

	"github.com/podseq/podseq/internal/cliexit"
)

// lineHandler is the text log format: one plain line a record, "podseq: MSG",
// then any attributes as key=value. Kubelet keeps a hook's output in the
// container's waiting message, where plain lines read best.
type lineHandler struct {
	mu     *sync.Mutex
	w      io.Writer
	attrs  []slog.Attr
	prefix string // what every line starts with: "podseq: ", or mirrorPrefix
}

func (h *lineHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }

func (h *lineHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(h.prefix)
	b.WriteString(cliexit.OneLine(r.Message))
	add := func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%s", a.Key, cliexit.OneLine(a.Value.String()))
		return true
	}
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(add)
	b.WriteByte('\n')
	if h.mu != nil {
		h.mu.Lock()
		defer h.mu.Unlock()
	}
	_, err := io.WriteString(h.w, b.String())
	return err
}

func (h *lineHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &lineHandler{mu: h.mu, w: h.w, attrs: append(append([]slog.Attr(nil), h.attrs...), as...), prefix: h.prefix}
}

func (h *lineHandler) WithGroup(string) slog.Handler { return h }
