package probes

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestParseAccepts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		raw, kind, name string
		local           bool
	}{
		{"http://127.0.0.1:8080/ready", "http", "http://127.0.0.1:8080/ready", true},
		{"http://localhost/ready", "http", "http://localhost/ready", true},
		{"HTTP://LOCALHOST:80/", "http", "HTTP://LOCALHOST:80/", true},
		{"https://[::1]:8443/healthz?verbose=1", "https", "https://[::1]:8443/healthz?verbose=1", true},
		{"https://api.example.com/healthz", "https", "https://api.example.com/healthz", false},
		{"http://user:secret@127.0.0.1:1/x", "http", "http://user:xxxxx@127.0.0.1:1/x", true},
		{"http://app.localhost:80/", "http", "http://app.localhost:80/", true},
		{"tcp://127.0.0.2:5432", "tcp", "tcp://127.0.0.2:5432", true},
		{"tcp://postgres.default.svc:5432", "tcp", "tcp://postgres.default.svc:5432", false},
		{"tcp://10.0.0.1:5432/", "tcp", "tcp://10.0.0.1:5432/", false},
		{"unix:///run/app.sock", "unix", "unix:///run/app.sock", true},
		{"file:///tmp/ready", "file", "file:///tmp/ready", true},
		{"file://localhost/tmp/ready", "file", "file://localhost/tmp/ready", true},
		{"grpc://127.0.0.1:9090", "grpc", "grpc://127.0.0.1:9090", true},
		{"grpc://127.0.0.1:9090/my.pkg.Service", "grpc", "grpc://127.0.0.1:9090/my.pkg.Service", true},
		{"grpcs://db:443", "grpcs", "grpcs://db:443", false},
		{"tcp://[fe80::1%25eth0]:22", "tcp", "tcp://[fe80::1%25eth0]:22", false},
		{"tcp://my_db:5432", "tcp", "tcp://my_db:5432", false},                                                 // compose-style service name
		{"tcp://db.default.svc.cluster.local.:5432", "tcp", "tcp://db.default.svc.cluster.local.:5432", false}, // fully qualified
		{"tcp://" + strings.Repeat("a", 63) + ":1", "tcp", "tcp://" + strings.Repeat("a", 63) + ":1", false},
		{"tcp://" + longName(253) + ":1", "tcp", "tcp://" + longName(253) + ":1", false},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			t.Parallel()
			tg := mustParse(t, tt.raw, Options{})
			if tg.Kind != tt.kind || tg.Name != tt.name || tg.Local != tt.local {
				t.Errorf("got kind %q name %q local %v, want %q %q %v", tg.Kind, tg.Name, tg.Local, tt.kind, tt.name, tt.local)
			}
			if tg.String() != tg.Name {
				t.Errorf("String() = %q, want %q", tg.String(), tg.Name)
			}
			if !slices.Contains(Kinds(), tg.Kind) {
				t.Errorf("kind %q is not in Kinds() %v", tg.Kind, Kinds())
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		raw  string
		want string // in the error, besides the target itself
	}{
		{"", "empty"},
		{"   ", "empty"},
		{"localhost:8080", "no scheme"},
		{"://x", "no scheme"},
		{"ftp://127.0.0.1:21", `unknown scheme "ftp"`},
		{"http://127.0.0.1:80/a b", "white space"},
		{"tcp://127.0.0.1", "missing port"},
		{"tcp://127.0.0.1:", "empty port"},
		{"tcp://:5432", "missing host"},
		{"tcp://127.0.0.1:0", "out of range"},
		{"tcp://127.0.0.1:65536", "out of range"},
		{"tcp://127.0.0.1:99999999999999999999", "out of range"},
		{"tcp://127.0.0.1:5432/path", "path"},
		{"tcp://127.0.0.1:5432?x=1", "query"},
		{"tcp://u:p@127.0.0.1:5432", "user info"},
		{"http://127.0.0.1:80/#frag", "fragment"},
		{"http://[::1:80/", "missing ']'"},
		{"http://127.0.0.1:port/", "invalid port"},
		{"unix://host/run/x.sock", "no host"},
		{"unix://", "missing socket path"},
		{"file://", "missing file path"},
		{"file://etc/passwd", "three slashes"},
		{"grpc://127.0.0.1", "missing port"},
		{"grpc://127.0.0.1:9090/a/b", "no slash"},
		{"grpc://127.0.0.1:9090?x", "query"},
		{"tcp://fe80::1", "an IPv6 address needs brackets around it, as in tcp://[::1]:8080"},
		{"tcp://::1:9", "an IPv6 address needs brackets"},
		{"http://fe80::1/", "an IPv6 address needs brackets"},
		{"grpc://::1:9090", "an IPv6 address needs brackets"},
		{"tcp://" + strings.Repeat("a", 64) + ":1", "a label of 64 characters, longer than DNS allows (63)"},
		{"tcp://" + longName(254) + ":1", "254 characters long, longer than DNS allows (253)"},
		{"tcp://" + strings.Repeat("a", 100000) + ":1", "100000 characters long"},
		{"tcp://a..b:1", "empty label"},
		{"tcp://-db:1", "starts or ends with a hyphen"},
		{"tcp://db!:80", "holds '!'"},
		{"file:relative/path", "write file:// and an absolute path, as in file:///relative/path"},
		{"file:/tmp/ready", "as in file:///tmp/ready"},
		{"unix:run/app.sock", "write unix:// and an absolute path"},
		{"TCP:db:5432", "write tcp://HOST:PORT, with two slashes"},
		{"tombstone:app", "write tombstone://NAME"},
		{"tcp://u:p@fe80::1:22", "an IPv6 address needs brackets"},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			t.Parallel()
			tg, err := Parse(tt.raw, Options{})
			if err == nil {
				t.Fatalf("Parse accepted it as %+v", tg)
			}
			if !errors.Is(err, ErrBadTarget) {
				t.Errorf("error %q does not wrap ErrBadTarget", err)
			}
			wantErr(t, err, tt.want)
			if strings.ContainsAny(err.Error(), "\n\r") {
				t.Errorf("error %q is not one line", err)
			}
			if len(err.Error()) > 2*maxShown+200 {
				t.Errorf("error of %d bytes: a message must not repeat a long target in full", len(err.Error()))
			}
		})
	}
}

// longName is a host name of n characters, in labels of 63 at most.
func longName(n int) string {
	var b strings.Builder
	for b.Len() < n {
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(strings.Repeat("b", min(63, n-b.Len())))
	}
	return b.String()
}

func TestParseRedactsPasswordInErrors(t *testing.T) {
	t.Parallel()
	_, err := Parse("tcp://u:hunter2@127.0.0.1:5432", Options{})
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("error %v must exist and hide the password", err)
	}
}

func TestParseBadCAFile(t *testing.T) {
	t.Parallel()
	_, err := Parse("https://127.0.0.1:1/", Options{CAFile: "/nonexistent/ca.pem"})
	wantErr(t, err, "CA file: open /nonexistent/ca.pem", "no such file")
	empty := t.TempDir() + "/empty.pem"
	if err := writeFile(empty, "not a certificate"); err != nil {
		t.Fatal(err)
	}
	_, err = Parse("grpcs://127.0.0.1:1", Options{CAFile: empty})
	wantErr(t, err, "CA file "+empty+": no PEM certificate")
	var ce *CAFileError
	if err := CheckCAFile(empty); !errors.As(err, &ce) || ce.Path != empty || !errors.Is(err, ErrNoPEM) {
		t.Errorf("CheckCAFile = %v, want a *CAFileError for %s wrapping ErrNoPEM", err, empty)
	}
}

func TestExecRejects(t *testing.T) {
	t.Parallel()
	for _, argv := range [][]string{nil, {}, {""}} {
		if _, err := NewExec(argv); !errors.Is(err, ErrBadTarget) || !strings.Contains(err.Error(), "empty command") {
			t.Errorf("NewExec(%q) = %v, want an empty command error", argv, err)
		}
	}
	_, err := NewExec([]string{"/nonexistent/podseq-check"})
	if !errors.Is(err, ErrBadTarget) {
		t.Errorf("error %v does not wrap ErrBadTarget", err)
	}
	wantErr(t, err, "/nonexistent/podseq-check")
	_, err = NewExec([]string{"podseq-no-such-command-anywhere"})
	wantErr(t, err, "podseq-no-such-command-anywhere", "not found")
}
