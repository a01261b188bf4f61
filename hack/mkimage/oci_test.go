package main

import (
	"archive/tar"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// ociFixture writes one file per architecture, dir/ARCH/app, and returns the
// mkimage arguments of a two-platform layout at out.
func ociFixture(t *testing.T, dir, out string) []string {
	t.Helper()
	for _, arch := range []string{"amd64", "arm64"} {
		if err := os.MkdirAll(filepath.Join(dir, arch), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, arch, "app"), []byte("app for "+arch), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return []string{"-oci", out, "-arch", "amd64,arm64", "-file", filepath.Join(dir, "{arch}", "app") + ":/app:0755",
		"-entrypoint", "/app", "-user", "65532:65532",
		"-label", "org.opencontainers.image.version=v1.2.3", "-label", "org.opencontainers.image.licenses=Apache-2.0"}
}

// layerFiles reads the single layer of img: path -> content.
func layerFiles(t *testing.T, img v1.Image) map[string]string {
	t.Helper()
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers: %d, %v", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	files := map[string]string{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[h.Name] = string(b)
	}
}

// TestOCILayout: -oci writes a layout whose index.json names one OCI image
// index, holding an image per -arch in order, each with its own file, the
// labels and OCI media types; the same inputs give the same index digest;
// and the layout pushes, as `crane push DIR REF` does, to a registry on
// loopback from which each platform pulls back.
func TestOCILayout(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "1700000000")
	dir := t.TempDir()
	out := filepath.Join(dir, "image")
	mustRun(t, ociFixture(t, dir, out)...)

	p, err := layout.FromPath(out)
	if err != nil {
		t.Fatal(err)
	}
	top, err := p.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	tm, err := top.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(tm.Manifests) != 1 || tm.Manifests[0].MediaType != types.OCIImageIndex {
		t.Fatalf("index.json: %+v, want one OCI image index", tm.Manifests)
	}
	idx, err := top.ImageIndex(tm.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 2 {
		t.Fatalf("index: %d manifests, want 2", len(im.Manifests))
	}
	for i, arch := range []string{"amd64", "arm64"} {
		d := im.Manifests[i]
		if d.Platform == nil || d.Platform.OS != "linux" || d.Platform.Architecture != arch || d.MediaType != types.OCIManifestSchema1 {
			t.Errorf("manifest %d: %s %+v, want an OCI image for linux/%s", i, d.MediaType, d.Platform, arch)
			continue
		}
		img, err := idx.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Architecture != arch || cfg.Config.User != "65532:65532" || cfg.Config.Labels["org.opencontainers.image.version"] != "v1.2.3" ||
			cfg.Config.Labels["org.opencontainers.image.licenses"] != "Apache-2.0" {
			t.Errorf("%s config: arch %s, user %q, labels %v", arch, cfg.Architecture, cfg.Config.User, cfg.Config.Labels)
		}
		if got := layerFiles(t, img)["app"]; got != "app for "+arch {
			t.Errorf("%s: /app holds %q", arch, got)
		}
	}

	again := filepath.Join(dir, "again")
	mustRun(t, ociFixture(t, dir, again)...)
	p2, err := layout.FromPath(again)
	if err != nil {
		t.Fatal(err)
	}
	top2, err := p2.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	tm2, err := top2.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if tm2.Manifests[0].Digest != tm.Manifests[0].Digest {
		t.Errorf("the same inputs gave index %s, then %s", tm.Manifests[0].Digest, tm2.Manifests[0].Digest)
	}
	// Written again over an existing layout: replaced whole.
	mustRun(t, ociFixture(t, dir, again)...)
	if entries, _ := os.ReadDir(dir); len(entries) != 4 {
		t.Errorf("left in %s: %v, want amd64, arm64, image and again", dir, entries)
	}

	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	ref, err := name.ParseReference(strings.TrimPrefix(srv.URL, "http://")+"/you/podseq:v1.2.3", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(ref, idx); err != nil {
		t.Fatalf("push: %v", err)
	}
	for _, arch := range []string{"amd64", "arm64"} {
		img, err := remote.Image(ref, remote.WithPlatform(v1.Platform{OS: "linux", Architecture: arch}))
		if err != nil {
			t.Fatalf("pull linux/%s: %v", arch, err)
		}
		if got := layerFiles(t, img)["app"]; got != "app for "+arch {
			t.Errorf("pulled linux/%s: /app holds %q", arch, got)
		}
	}
}

func TestOCIBadInput(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "image")
	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"-oci", out, "-o", out + ".tar", "-tag", "a:b"}, "give one output"},
		{[]string{"-oci", out, "-tag", "a:b"}, "-tag is for -o"},
		{[]string{"-oci", out, "-arch", "amd64,amd64"}, "amd64 twice"},
		{[]string{"-oci", out, "-arch", "amd64,s390x"}, `-arch "s390x"`},
		{[]string{"-o", out + ".tar", "-tag", "a:b", "-arch", "amd64,arm64"}, "a tarball holds one architecture"},
		{[]string{"-oci", out, "-label", "novalue"}, `-label "novalue": want K=V`},
	} {
		var stderr strings.Builder
		code := run(c.args, &stderr)
		if code != exitUsage || !strings.Contains(stderr.String(), c.msg) || strings.Count(stderr.String(), "\n") != 1 {
			t.Errorf("mkimage %q: exit %d %q, want exit 2 and one line holding %q", c.args, code, stderr.String(), c.msg)
		}
	}
	// A missing input of the second architecture leaves no layout behind.
	args := ociFixture(t, dir, out)
	if err := os.Remove(filepath.Join(dir, "arm64", "app")); err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	if code := run(args, &stderr); code != exitIO || !strings.Contains(stderr.String(), "arm64/app") {
		t.Errorf("exit %d %q, want exit 1 naming arm64/app", code, stderr.String())
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Errorf("left in %s: %v, want only amd64 and arm64", dir, entries)
	}
}
