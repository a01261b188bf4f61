package entrypoint

import (
	"errors"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"
)

// A long poll held the plain net/http way costs two goroutines (the
// connection's, with its buffers, and the background read that notices a
// client hanging up) and a timer. A held request is instead taken over from
// net/http (Hijack) and held by one small goroutine that blocks reading the
// connection, which notices a client that hangs up; a read deadline ends the
// hold, and a release moves every held connection's deadline to now. The
// connection is closed after the answer (a release ends the waiter's wait; a
// new hold is a new request).

// heldConns is the set of connections whose long poll is held.
type heldConns struct {
	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

func (h *heldConns) add(c net.Conn) {
	h.mu.Lock()
	if h.conns == nil {
		h.conns = map[net.Conn]struct{}{}
	}
	h.conns[c] = struct{}{}
	h.mu.Unlock()
}

func (h *heldConns) remove(c net.Conn) {
	h.mu.Lock()
	delete(h.conns, c)
	h.mu.Unlock()
}

// wake makes every held connection's read return now, so that its holder
// looks at the readiness again. Call it after the change it signals.
func (h *heldConns) wake() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.conns {
		_ = c.SetReadDeadline(pastDeadline)
	}
}

// pastDeadline is a read deadline that has passed.
var pastDeadline = time.Unix(1, 0)

// holdOutcome is how a held long poll ended.
type holdOutcome int

const (
	holdReleased holdOutcome = iota // the child turned ready
	holdTimedOut                    // the hold ran out
	holdShutdown                    // podseq is shutting down
	holdCanceled                    // the client hung up
)

// holdHijacked takes the connection of a long poll of up to d over from w
// and holds it in a goroutine of its own, until turned or done is closed,
// the hold runs out, or the client hangs up, then answers it and calls
// unhold. net/http's goroutine for the connection ends at once, and its
// buffers with it. holdHijacked returns false, having done nothing, when w
// cannot be taken over (HTTP/2): the caller holds it the plain way.
func (s *Supervisor) holdHijacked(w http.ResponseWriter, r *http.Request, d time.Duration, turned <-chan struct{}) bool {
	hj, ok := w.(http.Hijacker)
	if !ok {
		return false
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		return false
	}
	head := r.Method == http.MethodHead
	go func() {
		defer s.state.unhold()
		defer conn.Close()
		s.holdConn(conn, head, d, turned)
	}()
	return true
}

// holdConn holds a long poll of up to d on conn and answers it.
func (s *Supervisor) holdConn(conn net.Conn, head bool, d time.Duration, turned <-chan struct{}) {
	end := time.Now().Add(d)
	held := &s.state.held
	held.add(conn)
	defer held.remove(conn)
	var buf [1]byte
	outcome := holdCanceled
	for {
		// Arm the deadline before looking: a wake after the look makes the
		// read return, one before it is seen by the look.
		if err := conn.SetReadDeadline(end); err != nil {
			break
		}
		if outcome = s.holdState(turned, end); outcome != holdCanceled {
			break
		}
		_, err := conn.Read(buf[:])
		if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			break // the client hung up (or broke the connection)
		}
		// A deadline (a wake, or the hold's end), or a byte the client
		// sent early (it is dropped: the connection closes after the answer).
	}
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second)) // a write to a client that does not read
	if code, body, died := s.endHold(outcome, d); code != 0 {
		writeRaw(conn, head, code, body, s.instance[0], died)
	}
}

// holdState says whether a hold is over and how; holdCanceled means it is not.
func (s *Supervisor) holdState(turned <-chan struct{}, end time.Time) holdOutcome {
	select {
	case <-turned:
		return holdReleased
	case <-s.state.done:
		return holdShutdown
	default:
	}
	if !time.Now().Before(end) {
		return holdTimedOut
	}
	return holdCanceled
}

// writeRaw writes a whole HTTP/1.1 response with /ready's headers and body
// (and its newline) on a connection taken over from net/http, and asks the
// client to close it.
// instance is the Podseq-Instance header; died, when not empty, the
// Podseq-Died header.
func writeRaw(conn net.Conn, head bool, code int, body, instance, died string) {
	b := make([]byte, 0, 257+len(body))
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(code), 10)
	b = append(b, ' ')
	b = append(b, http.StatusText(code)...)
	b = append(b, "\r\nCache-Control: no-store\r\nConnection: close\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(body)+1), 10)
	b = append(b, "\r\nContent-Type: text/plain; charset=utf-8\r\nDate: "...)
	b = time.Now().UTC().AppendFormat(b, http.TimeFormat)
	b = append(b, "\r\n"+holdHeaderKey+": "...)
	b = append(b, holdValue[0]...)
	b = append(b, "\r\n"+instanceKey+": "...)
	b = append(b, instance...)
	if died != "" {
		b = append(b, "\r\n"+diedKey+": "...)
		b = append(b, died...)
	}
	b = append(b, "\r\n\r\n"...)
	if !head {
		b = append(b, body...)
		b = append(b, '\n')
	}
	_, _ = conn.Write(b)
}
