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
		})
	}
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
	wantErr(t, err, "--ca-file", "no such file")
	empty := t.TempDir() + "/empty.pem"
	if err := writeFile(empty, "not a certificate"); err != nil {
		t.Fatal(err)
	}
	_, err = Parse("grpcs://127.0.0.1:1", Options{CAFile: empty})
	wantErr(t, err, "--ca-file", "no PEM certificate")
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
