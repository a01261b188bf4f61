package probes

import (
	"encoding/binary"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/proto"
)

// FuzzParse checks that Parse never panics, that what it accepts is a URL
// net/url accepts too, of one of Kinds(), and that its name is stable: the
// name parses again to the same target.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"http://localhost:15021/healthz/ready", // a sidecar's ready endpoint
		"https://[::1]:8443/x?y=1",             // IPv6 literal, query
		"http://user:pa%40ss@127.0.0.1:80/",    // password to redact, escaped
		"HTTP://LOCALHOST/",                    // upper-case scheme and host
		"http://127.0.0.1:80/#frag",            // fragment: rejected
		"http://[::1:80/",                      // broken IPv6 literal
		"tcp://postgres.default.svc:5432",      // a remote database
		"tcp://127.0.0.1:0",                    // port out of range
		"tcp://127.0.0.1:065535",               // leading zero, in range
		"tcp://127.0.0.1:",                     // empty port
		"tcp://[fe80::1%25eth0]:22",            // IPv6 zone
		"unix:///run/app.sock",                 // a unix socket
		"unix://host/x",                        // a host where none is allowed
		"file:///tmp/ready",                    // a file
		"file://localhost/tmp/a%20b",           // localhost host, escaped path
		"grpc://127.0.0.1:9090/my.Service",     // gRPC with a service
		"grpc://127.0.0.1:9090/a/b",            // a service with a slash
		"grpcs://db:443",                       // gRPC over TLS
		"ftp://x:21",                           // unknown scheme
		"://",                                  // no scheme
		"http://\x00:1",                        // control character
		"tcp://fe80::1",                        // IPv6 without brackets
		"tcp://::1:9",                          // IPv6 without brackets, read as [::1]:9 once
		"tcp://a..b:1",                         // an empty label
		"tcp://-a.b:1",                         // a label starting with a hyphen
		"tcp://my_db:5432",                     // an underscore: accepted
		"tcp://db.svc.cluster.local.:5432",     // a final dot: accepted
		"",                                     // empty
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		tg, err := Parse(raw, Options{})
		if err != nil {
			if tg != nil {
				t.Fatalf("Parse(%q) returned a target and an error", raw)
			}
			if strings.ContainsAny(err.Error(), "\r\n") {
				t.Fatalf("Parse(%q) error is not one line: %q", raw, err)
			}
			return
		}
		closeIdle(tg)
		if !slices.Contains(Kinds(), tg.Kind) {
			t.Fatalf("Parse(%q).Kind = %q, not in %v", raw, tg.Kind, Kinds())
		}
		u, uerr := url.Parse(raw)
		if uerr != nil {
			t.Fatalf("Parse accepted %q, which net/url rejects: %v", raw, uerr)
		}
		if strings.ToLower(u.Scheme) != tg.Kind {
			t.Fatalf("Parse(%q).Kind = %q, net/url says scheme %q", raw, tg.Kind, u.Scheme)
		}
		if tg.Name != Redact(raw) {
			t.Fatalf("Parse(%q).Name = %q, want Redact(raw) %q", raw, tg.Name, Redact(raw))
		}
		if _, ok := u.User.Password(); ok && strings.Contains(tg.Name, ":"+mustPassword(u)+"@") && mustPassword(u) != "xxxxx" {
			t.Fatalf("Parse(%q).Name = %q shows the password", raw, tg.Name)
		}
		switch tg.Kind {
		case "tcp", "grpc", "grpcs", "http", "https":
			host := u.Hostname()
			ip := net.ParseIP(host)
			local := strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") || (ip != nil && (ip.IsLoopback() || ip.IsUnspecified()))
			if tg.Local != local {
				t.Fatalf("Parse(%q).Local = %v, host %q", raw, tg.Local, host)
			}
			if p := u.Port(); p != "" {
				if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
					t.Fatalf("Parse accepted %q with port %q", raw, p)
				}
			}
			if !strings.HasPrefix(u.Host, "[") && strings.Count(u.Host, ":") > 1 {
				t.Fatalf("Parse accepted %q, an IPv6 address without brackets", raw)
			}
			if _, err := netip.ParseAddr(host); err != nil && !refHostName(host) {
				t.Fatalf("Parse accepted %q, whose host %q is neither an IP address nor a host name RFC 1123 allows", raw, host)
			}
		case "unix", "file":
			if !tg.Local {
				t.Fatalf("Parse(%q) is not Local", raw)
			}
		}
		again, err := Parse(tg.Name, Options{})
		if err != nil {
			t.Fatalf("the name %q of %q does not parse again: %v", tg.Name, raw, err)
		}
		closeIdle(again)
		if again.Name != tg.Name || again.Kind != tg.Kind || again.Local != tg.Local {
			t.Fatalf("Parse(%q) = %q %s, but its name parses to %q %s", raw, tg.Name, tg.Kind, again.Name, again.Kind)
		}
	})
}

// refLabel is one label of a host name: letters, digits, hyphens and
// underscores, 1 to 63 of them, no hyphen at either end (RFC 1123 2.1, with
// the underscores of service names).
var refLabel = regexp.MustCompile(`^[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$`)

// refHostName is an independent reading of a valid host name: labels as
// refLabel, at most 253 characters without the final dot.
func refHostName(h string) bool {
	h = strings.TrimSuffix(h, ".")
	if len(h) > 253 {
		return false
	}
	for _, l := range strings.Split(h, ".") {
		if !refLabel.MatchString(l) {
			return false
		}
	}
	return true
}

func mustPassword(u *url.URL) string {
	p, _ := u.User.Password()
	return p
}

// refStatusSet is an independent reading of the --status grammar: codes of
// three digits in 100-599 and ranges LO-HI (no space around the dash),
// separated by commas with optional space around them.
func refStatusSet(s string) (map[int]bool, bool) {
	set := map[int]bool{}
	if s == "" {
		return nil, false
	}
	code := func(p string) (int, bool) {
		if len(p) != 3 {
			return 0, false
		}
		n := 0
		for _, c := range []byte(p) {
			if c < '0' || c > '9' {
				return 0, false
			}
			n = n*10 + int(c-'0')
		}
		return n, n >= 100 && n <= 599
	}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		lo, hi := part, part
		if i := strings.IndexByte(part, '-'); i >= 0 {
			lo, hi = part[:i], part[i+1:]
		}
		a, ok1 := code(lo)
		b, ok2 := code(hi)
		if !ok1 || !ok2 || b < a {
			return nil, false
		}
		for c := a; c <= b; c++ {
			set[c] = true
		}
	}
	return set, true
}

// FuzzParseStatusSet checks ParseStatusSet against refStatusSet: the same
// inputs accepted, and Contains agreeing with the brute-force set on every
// code from 100 to 599 (and just outside).
func FuzzParseStatusSet(f *testing.F) {
	for _, seed := range []string{
		"200-399",         // kubelet's default
		"200",             // one code
		"200,204,300-302", // codes and a range
		" 200 , 204 ",     // space around commas
		"200 - 299",       // space around the dash: rejected
		"399-200",         // backwards
		"99",              // too short
		"0200",            // four digits
		"600",             // above 599
		"+20",             // a sign
		"200,",            // trailing comma
		",",               // empty parts
		"100-599",         // everything
		"200-299-300",     // two dashes
		"",                // empty
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		set, err := ParseStatusSet(s)
		ref, ok := refStatusSet(s)
		if (err == nil) != ok {
			t.Fatalf("ParseStatusSet(%q) error %v, reference accepts: %v", s, err, ok)
		}
		if err != nil {
			return
		}
		if set.String() != s {
			t.Fatalf("String() = %q, want %q", set.String(), s)
		}
		for code := 0; code <= 1000; code++ {
			if set.Contains(code) != ref[code] {
				t.Fatalf("ParseStatusSet(%q).Contains(%d) = %v, want %v", s, code, set.Contains(code), ref[code])
			}
		}
	})
}

func TestStatusSetZero(t *testing.T) {
	t.Parallel()
	var z StatusSet
	if z.String() != "200-399" {
		t.Errorf("zero StatusSet String() = %q", z.String())
	}
	for code := 0; code < 1000; code++ {
		if z.Contains(code) != (code >= 200 && code <= 399) {
			t.Errorf("zero StatusSet Contains(%d) = %v", code, z.Contains(code))
		}
	}
}

// frame wraps a protobuf message in a gRPC length-prefixed frame.
func frame(msg []byte) []byte {
	b := make([]byte, 5, 5+len(msg))
	binary.BigEndian.PutUint32(b[1:], uint32(len(msg)))
	return append(b, msg...)
}

// FuzzParseHealthResponse checks that parseHealthResponse never panics on any
// bytes, and that on every frame whose message google.golang.org/protobuf
// decodes as a HealthCheckResponse it reads the same status.
func FuzzParseHealthResponse(f *testing.F) {
	serving, _ := proto.Marshal(&healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING})
	notServing, _ := proto.Marshal(&healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_NOT_SERVING})
	for _, seed := range [][]byte{
		frame(serving),                        // SERVING, as grpc-go sends it
		frame(notServing),                     // NOT_SERVING
		frame(nil),                            // empty message: UNKNOWN
		frame([]byte{0x08, 0x01, 0x08, 0x02}), // status twice: the last wins
		frame([]byte{0x12, 0x03, 'a', 'b', 'c', 0x08, 1}), // an unknown string field first
		frame([]byte{0x08, 0x80, 0x01}),                   // status 128 in two bytes
		frame([]byte{0x08}),                               // truncated varint
		frame([]byte{0x12, 0x7f}),                         // length past the end
		append(frame(serving), 0xff, 0xff),                // trailing bytes after the frame
		{1, 0, 0, 0, 2, 0x08, 0x01},                       // compressed flag
		{0, 0, 0, 0, 9, 0x08},                             // length longer than the data
		{0, 0, 0},                                         // shorter than a header
		{0, 0xff, 0xff, 0xff, 0xff},                       // a 4 GiB length
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		status, err := parseHealthResponse(b)
		if len(b) < 5 || b[0] != 0 || uint64(binary.BigEndian.Uint32(b[1:5])) > uint64(len(b)-5) {
			if err == nil {
				t.Fatalf("parseHealthResponse(%x) accepted a bad frame", b)
			}
			return
		}
		msg := b[5 : 5+binary.BigEndian.Uint32(b[1:5])]
		var ref healthpb.HealthCheckResponse
		if perr := proto.Unmarshal(msg, &ref); perr != nil {
			return // not a valid encoding: any error or status will do
		}
		if err != nil {
			t.Fatalf("protobuf decodes %x (status %v) but parseHealthResponse: %v", msg, ref.Status, err)
		}
		// protobuf decodes an enum as int32: compare the low 32 bits.
		if int32(status) != int32(ref.Status) {
			t.Fatalf("parseHealthResponse(%x) = %d, protobuf says %d", msg, status, ref.Status)
		}
	})
}
