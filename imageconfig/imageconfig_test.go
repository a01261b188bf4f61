package imageconfig

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// testRegistry is go-containerregistry's registry on loopback, counting the
// requests it serves and, with user set, asking for basic auth.
type testRegistry struct {
	*httptest.Server
	user, pass string
	mu         sync.Mutex
	requests   []string
}

func newRegistry(t *testing.T, user, pass string) *testRegistry {
	t.Helper()
	// The user's own Docker config must not leak into the tests.
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	r := &testRegistry{user: user, pass: pass}
	inner := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if r.user != "" {
			if u, p, ok := req.BasicAuth(); !ok || u != r.user || p != r.pass {
				w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
				http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
				return
			}
		}
		if req.URL.Path != "/v2/" {
			r.mu.Lock()
			r.requests = append(r.requests, req.Method+" "+req.URL.Path)
			r.mu.Unlock()
		}
		inner.ServeHTTP(w, req)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *testRegistry) host() string { return strings.TrimPrefix(r.URL, "http://") }

// take returns the requests served since the last call, and forgets them.
func (r *testRegistry) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	got := r.requests
	r.requests = nil
	return got
}

// image makes an image with the given ENTRYPOINT and CMD.
func image(t *testing.T, entrypoint, cmd []string) v1.Image {
	t.Helper()
	img, err := mutate.Config(empty.Image, v1.Config{Entrypoint: entrypoint, Cmd: cmd})
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf.OS, cf.Architecture = "linux", "amd64"
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// push writes img (or an index) as ref, with the registry's credentials.
func (r *testRegistry) push(t *testing.T, ref string, img any) v1.Hash {
	t.Helper()
	parsed, err := name.ParseReference(r.host() + "/" + ref)
	if err != nil {
		t.Fatal(err)
	}
	opts := []remote.Option{}
	if r.user != "" {
		opts = append(opts, remote.WithAuth(&basic{r.user, r.pass}))
	}
	var d v1.Hash
	switch x := img.(type) {
	case v1.Image:
		err = remote.Write(parsed, x, opts...)
		d, _ = x.Digest()
	case v1.ImageIndex:
		err = remote.WriteIndex(parsed, x, opts...)
		d, _ = x.Digest()
	}
	if err != nil {
		t.Fatal(err)
	}
	r.take()
	return d
}

type basic struct{ u, p string }

func (b *basic) Authorization() (*authn.AuthConfig, error) {
	return &authn.AuthConfig{Username: b.u, Password: b.p}, nil
}

func TestResolveTagAndDigest(t *testing.T) {
	reg := newRegistry(t, "", "")
	d := reg.push(t, "app:1", image(t, []string{"/app.sh"}, []string{"serve", "--port=80"}))
	cache := &MemoryCache{}
	r := &Resolver{Cache: cache}
	ctx := context.Background()

	tag := reg.host() + "/app:1"
	c, err := r.Resolve(ctx, tag)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Entrypoint, []string{"/app.sh"}) || !slices.Equal(c.Cmd, []string{"serve", "--port=80"}) || c.Digest != d.String() || c.Pinned {
		t.Fatalf("got %+v, want /app.sh serve --port=80 from %s, not pinned", c, d)
	}
	if w := c.movingTagWarning(); !strings.Contains(w, "is a tag, not a digest") || !strings.Contains(w, "@"+d.String()) {
		t.Errorf("moving tag warning %q", w)
	}
	first := reg.take()
	if len(first) == 0 {
		t.Fatal("no request reached the registry")
	}
	// The same tag again: one HEAD for its digest, the config from the cache.
	if _, err := r.Resolve(ctx, tag); err != nil {
		t.Fatal(err)
	}
	if got := reg.take(); !slices.Equal(got, []string{"HEAD /v2/app/manifests/1"}) {
		t.Errorf("tag with a cached digest: requests %q, want one HEAD", got)
	}
	// By digest: no request at all.
	byDigest := reg.host() + "/app@" + d.String()
	c, err = r.Resolve(ctx, byDigest)
	if err != nil {
		t.Fatal(err)
	}
	if got := reg.take(); len(got) != 0 {
		t.Errorf("digest in the cache: requests %q, want none", got)
	}
	if !c.Pinned || c.Ref != byDigest || c.movingTagWarning() != "" {
		t.Errorf("by digest: %+v, want pinned, no warning", c)
	}
}

func TestMovingTag(t *testing.T) {
	reg := newRegistry(t, "", "")
	r := &Resolver{Cache: dirCache{Dir: t.TempDir()}}
	ctx := context.Background()
	reg.push(t, "app:latest", image(t, []string{"/v1"}, nil))
	c1, err := r.Resolve(ctx, reg.host()+"/app:latest")
	if err != nil {
		t.Fatal(err)
	}
	reg.push(t, "app:latest", image(t, []string{"/v2"}, nil))
	c2, err := r.Resolve(ctx, reg.host()+"/app:latest")
	if err != nil {
		t.Fatal(err)
	}
	if c1.Digest == c2.Digest || !slices.Equal(c2.Entrypoint, []string{"/v2"}) {
		t.Fatalf("after the tag moved: %+v (before %+v), want /v2 under a new digest", c2, c1)
	}
	// A fresh resolver on the same directory finds both.
	reg.take()
	r2 := &Resolver{Cache: r.Cache}
	if _, err := r2.Resolve(ctx, reg.host()+"/app@"+c1.Digest); err != nil {
		t.Fatal(err)
	}
	if got := reg.take(); slices.ContainsFunc(got, func(s string) bool { return strings.HasPrefix(s, "GET") }) {
		t.Errorf("cached digest read again: %q", got)
	}
}

func TestIndexPicksPlatform(t *testing.T) {
	reg := newRegistry(t, "", "")
	amd := image(t, []string{"/amd"}, nil)
	arm := image(t, []string{"/arm"}, nil)
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: amd, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}})
	reg.push(t, "multi:1", idx)
	for arch, want := range map[string]string{"amd64": "/amd", "arm64": "/arm"} {
		r := &Resolver{Platform: v1.Platform{OS: "linux", Architecture: arch}, Cache: &MemoryCache{}}
		c, err := r.Resolve(context.Background(), reg.host()+"/multi:1")
		if err != nil {
			t.Fatal(err)
		}
		idxDigest, _ := idx.Digest()
		if !slices.Equal(c.Entrypoint, []string{want}) || c.Platform != "linux/"+arch || c.RefDigest != idxDigest.String() || c.Digest == c.RefDigest {
			t.Errorf("%s: %+v, want %s, the index's digest to pin", arch, c, want)
		}
		if w := c.movingTagWarning(); !strings.Contains(w, "multi:1@"+idxDigest.String()) {
			t.Errorf("%s: pin the index, got %q", arch, w)
		}
	}
	r := &Resolver{Platform: v1.Platform{OS: "linux", Architecture: "s390x"}}
	_, err := r.Resolve(context.Background(), reg.host()+"/multi:1")
	var le *LookupError
	if !errors.As(err, &le) || le.Reason != ReasonPlatform {
		t.Fatalf("no s390x image: %v, want %q", err, ReasonPlatform)
	}
}

func TestPullSecretCredentials(t *testing.T) {
	reg := newRegistry(t, "robot", "s3cret")
	reg.push(t, "team/app:1", image(t, []string{"/app"}, []string{"x"}))
	ref := reg.host() + "/team/app:1"
	ctx := context.Background()

	_, err := (&Resolver{}).Resolve(ctx, ref)
	var le *LookupError
	if !errors.As(err, &le) || le.Reason != ReasonUnauthorized {
		t.Fatalf("anonymous: %v, want %q", err, ReasonUnauthorized)
	}
	if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, "imagePullSecrets") || !strings.Contains(msg, ref) {
		t.Errorf("anonymous: one line naming the image and the fix, got %q", msg)
	}

	auth := base64.StdEncoding.EncodeToString([]byte("robot:s3cret"))
	wrong := base64.StdEncoding.EncodeToString([]byte("robot:nope"))
	for name, secret := range map[string]string{
		"dockerconfigjson":     fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, reg.host(), auth),
		"dockercfg":            fmt.Sprintf(`{%q:{"username":"robot","password":"s3cret"}}`, "http://"+reg.host()),
		"path prefix":          fmt.Sprintf(`{"auths":{%q:{"auth":%q},%q:{"auth":%q}}}`, reg.host(), wrong, reg.host()+"/team", auth),
		"second secret has it": "",
	} {
		t.Run(name, func(t *testing.T) {
			secrets := [][]byte{[]byte(secret)}
			if secret == "" {
				secrets = [][]byte{[]byte(`{"auths":{"other.example.com":{"auth":"` + wrong + `"}}}`),
					[]byte(fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, reg.host(), auth))}
			}
			kc, err := keychain(secrets...)
			if err != nil {
				t.Fatal(err)
			}
			c, err := (&Resolver{Keychain: kc}).Resolve(ctx, ref)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(c.Argv(nil, nil), []string{"/app", "x"}) {
				t.Errorf("argv %q", c.Argv(nil, nil))
			}
		})
	}
}

func TestLookupFailures(t *testing.T) {
	reg := newRegistry(t, "", "")
	reg.push(t, "app:1", image(t, nil, nil))
	dead := httptest.NewServer(http.NotFoundHandler())
	deadHost := strings.TrimPrefix(dead.URL, "http://")
	dead.Close()
	ctx := context.Background()
	for _, tc := range []struct {
		ref    string
		reason Reason
	}{
		{reg.host() + "/app:2", ReasonNotFound},
		{reg.host() + "/nothing:1", ReasonNotFound},
		{deadHost + "/app:1", ReasonUnreachable},
		{"UPPER/Case::x", ReasonBadReference},
		{"", ReasonBadReference},
	} {
		_, err := (&Resolver{Cache: &MemoryCache{}}).Resolve(ctx, tc.ref)
		var le *LookupError
		if !errors.As(err, &le) || le.Reason != tc.reason {
			t.Errorf("%q: %v, want %q", tc.ref, err, tc.reason)
			continue
		}
		if strings.Contains(err.Error(), "\n") || !strings.HasPrefix(err.Error(), fmt.Sprintf("image %q: ", tc.ref)) {
			t.Errorf("%q: want one line naming the image, got %q", tc.ref, err)
		}
	}
	// An image with neither ENTRYPOINT nor CMD and no command: no argv.
	_, _, err := (&Resolver{}).Argv(ctx, reg.host()+"/app:1", nil, nil)
	var le *LookupError
	if !errors.As(err, &le) || le.Reason != ReasonNoArgv || !strings.Contains(err.Error(), "must set command") {
		t.Errorf("no argv: %v", err)
	}
	// With args, the argv is those args alone.
	argv, _, err := (&Resolver{}).Argv(ctx, reg.host()+"/app:1", nil, []string{"/bin/x", "y"})
	if err != nil || !slices.Equal(argv, []string{"/bin/x", "y"}) {
		t.Errorf("args only: %q %v", argv, err)
	}
}

func TestRateLimitAndCancel(t *testing.T) {
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	var hits int
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits++
		mu.Unlock()
		if r.URL.Path == "/v2/" {
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusTooManyRequests)
		io.WriteString(w, `{"errors":[{"code":"TOOMANYREQUESTS","message":"pull rate limit"}]}`)
	}))
	defer srv.Close()
	ref := strings.TrimPrefix(srv.URL, "http://") + "/app:1"
	_, err := (&Resolver{}).Resolve(context.Background(), ref)
	var le *LookupError
	if !errors.As(err, &le) || le.Reason != ReasonRateLimited || !strings.Contains(err.Error(), "pin the image by digest") {
		t.Fatalf("rate limited: %v", err)
	}
	mu.Lock()
	n := hits
	mu.Unlock()
	if n > 3 {
		t.Errorf("a rate-limited lookup made %d requests, want no retries", n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = (&Resolver{}).Resolve(ctx, ref)
	if !errors.As(err, &le) || le.Reason != ReasonUnreachable {
		t.Fatalf("cancelled: %v, want %q", err, ReasonUnreachable)
	}
}

func TestArgvRules(t *testing.T) {
	c := Config{Entrypoint: []string{"/e", "-x"}, Cmd: []string{"c1", "c2"}}
	for _, tc := range []struct {
		command, args, want []string
	}{
		{nil, nil, []string{"/e", "-x", "c1", "c2"}},
		{nil, []string{"a"}, []string{"/e", "-x", "a"}},
		{[]string{"/cmd"}, nil, []string{"/cmd"}},
		{[]string{"/cmd"}, []string{"a"}, []string{"/cmd", "a"}},
	} {
		if got := c.Argv(tc.command, tc.args); !slices.Equal(got, tc.want) {
			t.Errorf("command %q args %q: %q, want %q", tc.command, tc.args, got, tc.want)
		}
	}
	if got := (Config{}).Argv(nil, nil); got != nil {
		t.Errorf("empty: %q", got)
	}
}

func TestKeychainBadSecrets(t *testing.T) {
	for _, s := range []string{`nope`, `{"auths":[]}`, `{"auths":{"reg":{"auth":"!!"}}}`,
		`{"auths":{"reg":{"auth":"` + base64.StdEncoding.EncodeToString([]byte("nocolon")) + `"}}}`, `{"auths":{"":{}}}`} {
		_, err := keychain([]byte(`{}`), []byte(s))
		var pe *pullSecretError
		if !errors.As(err, &pe) || pe.Index != 1 || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: %v, want a one-line error for secret 1", s, err)
		}
	}
}

func TestHostMatches(t *testing.T) {
	for _, tc := range []struct {
		pattern, host string
		want          bool
	}{
		{"reg.example.com", "reg.example.com", true},
		{"*.example.com", "reg.example.com", true},
		{"*.example.com", "a.b.example.com", false},
		{"*.example.com", "example.com", false},
		{"reg.example.com:5000", "reg.example.com", false},
	} {
		if got := hostMatches(tc.pattern, tc.host); got != tc.want {
			t.Errorf("%s vs %s: %v", tc.pattern, tc.host, got)
		}
	}
	kc, err := parseDockerConfig([]byte(`{"auths":{"https://index.docker.io/v1/":{"username":"u","password":"p"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := name.ParseReference("nginx:1")
	a, err := kc.Resolve(ref.Context())
	if err != nil {
		t.Fatal(err)
	}
	if cfg, _ := a.Authorization(); cfg.Username != "u" {
		t.Errorf("Docker Hub key: %+v", cfg)
	}
}

func FuzzParseDockerConfig(f *testing.F) {
	f.Add([]byte(`{"auths":{"reg.example.com":{"auth":"dTpw"}}}`))
	f.Add([]byte(`{"https://index.docker.io/v1/":{"username":"u"}}`))
	f.Add([]byte(`{"auths":{"*.example.com/x":{"identitytoken":"t"}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		kc, err := parseDockerConfig(data)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("multi-line error %q", err)
			}
			return
		}
		ref, _ := name.ParseReference("reg.example.com/x/y:1")
		if _, err := kc.Resolve(ref.Context()); err != nil {
			t.Fatal(err)
		}
	})
}
