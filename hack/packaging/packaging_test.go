package packaging

import (
	"bytes"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// repo is the repository's root, from hack/packaging.
const repo = "../.."

// buildScript is the one script that runs go build on ./cmd/podseq.
const buildScript = "hack/build.sh"

func read(t *testing.T, file string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repo, file))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// dockerInstr is one Dockerfile instruction, continuation lines joined.
type dockerInstr struct{ cmd, args string }

// parseDockerfile splits a Dockerfile into instructions, dropping comments.
func parseDockerfile(text string) []dockerInstr {
	var out []dockerInstr
	var cur strings.Builder
	for _, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(line)
		if cur.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if strings.HasSuffix(trimmed, `\`) {
			cur.WriteString(strings.TrimSuffix(trimmed, `\`) + " ")
			continue
		}
		cur.WriteString(trimmed)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		out = append(out, dockerInstr{strings.ToUpper(cmd), strings.TrimSpace(args)})
		cur.Reset()
	}
	return out
}

// shellLines returns the lines of a shell script, a Makefile or a
// .dockerignore without comments and blank lines.
func shellLines(text string) []string {
	var out []string
	for _, line := range strings.Split(text, "\n") {
		if t := strings.TrimSpace(line); t != "" && !strings.HasPrefix(t, "#") {
			out = append(out, line)
		}
	}
	return out
}

// TestOneBuild: the Dockerfile, the Makefile and hack/image-tar.sh run
// hack/build.sh, and none of them runs go build on podseq by itself.
func TestOneBuild(t *testing.T) {
	goBuild := regexp.MustCompile(`\bgo\s+build\b`)
	var runs []string
	for _, in := range parseDockerfile(read(t, "Dockerfile")) {
		if in.cmd == "RUN" {
			runs = append(runs, in.args)
		}
	}
	for name, lines := range map[string][]string{
		"Dockerfile":        runs,
		"Makefile":          shellLines(read(t, "Makefile")),
		"hack/image-tar.sh": shellLines(read(t, "hack/image-tar.sh")),
	} {
		uses := false
		for _, l := range lines {
			if goBuild.MatchString(l) {
				t.Errorf("%s runs go build itself (%q): run %s, so its binary is make build's", name, strings.TrimSpace(l), buildScript)
			}
			uses = uses || strings.Contains(l, buildScript)
		}
		if !uses {
			t.Errorf("%s does not run %s", name, buildScript)
		}
	}
	// The Makefile's build target is the script, with the Makefile's VERSION.
	if !regexp.MustCompile(`(?m)^build:.*\n\t.*VERSION=\$\(VERSION\).*OUT=\$\(BIN\) ` + regexp.QuoteMeta(buildScript)).MatchString(read(t, "Makefile")) {
		t.Errorf("Makefile: the build target's recipe is not VERSION=$(VERSION) OUT=$(BIN) %s", buildScript)
	}
	for _, flag := range []string{"-tags urfave_cli_no_docs", "-trimpath", "-buildvcs=false", "CGO_ENABLED=0", "-buildid="} {
		if !strings.Contains(read(t, buildScript), flag) {
			t.Errorf("%s: no %s", buildScript, flag)
		}
	}
}

// ignored reports whether .dockerignore's patterns leave file (slash
// separated, relative to the context) out of the build context: the last
// pattern that matches the file or one of its parent directories decides,
// and a pattern starting with ! brings the file back.
func ignored(patterns []string, file string) bool {
	out := false
	for _, p := range patterns {
		neg := strings.HasPrefix(p, "!")
		p = path.Clean(strings.TrimPrefix(strings.TrimPrefix(p, "!"), "/"))
		if matchPattern(p, file) {
			out = !neg
		}
	}
	return out
}

// matchPattern matches a .dockerignore pattern against file or any of its
// parent directories; a leading **/ matches at any depth.
func matchPattern(p, file string) bool {
	for f := file; f != "." && f != "/"; f = path.Dir(f) {
		if ok, _ := path.Match(p, f); ok {
			return true
		}
		if rest, ok := strings.CutPrefix(p, "**/"); ok {
			for g := f; ; {
				if ok, _ := path.Match(rest, g); ok {
					return true
				}
				_, after, found := strings.Cut(g, "/")
				if !found {
					break
				}
				g = after
			}
		}
	}
	return false
}

func TestIgnored(t *testing.T) {
	pats := []string{".git", "hack/", "!hack/build.sh", "**/*_test.go", "*.md"}
	for file, want := range map[string]bool{
		"hack/build.sh": false, "hack/test.sh": true, "hack/e2e/main.go": true, ".git/HEAD": true,
		"cmd/podseq/main.go": false, "cmd/podseq/main_test.go": true, "main_test.go": true,
		"README.md": true, "docs/x.txt": false, "go.mod": false,
	} {
		if got := ignored(pats, file); got != want {
			t.Errorf("ignored(%q) = %v, want %v", file, got, want)
		}
	}
}

// TestDockerBuildIsMakeBuild runs the Dockerfile's build step the way
// docker would (in a copy of the build context that .dockerignore leaves,
// with the Dockerfile's ARGs as the environment) and `make build`, for the
// same VERSION and platform, and expects the same bytes.
func TestDockerBuildIsMakeBuild(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Fatalf("make: %v", err)
	}
	const version = "v0.0.0-packaging-test"
	tmp := t.TempDir()

	// The build context.
	var patterns []string
	for _, l := range shellLines(read(t, ".dockerignore")) {
		patterns = append(patterns, strings.TrimSpace(l))
	}
	ctx := filepath.Join(tmp, "context")
	err := filepath.WalkDir(repo, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(repo, p)
		if err != nil || rel == "." {
			return err
		}
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if rel == ".git" || rel == "bin" {
				return filepath.SkipDir
			}
			return nil
		}
		if ignored(patterns, rel) || !d.Type().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		dst := filepath.Join(ctx, rel)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		return os.WriteFile(dst, data, info.Mode().Perm())
	})
	if err != nil {
		t.Fatal(err)
	}

	// The Dockerfile's build stage: its ARGs, its RUN that builds, and the
	// paths the final stage copies the binaries from.
	env := map[string]string{"TARGETARCH": runtime.GOARCH, "VERSION": version}
	var run string
	from := map[string]string{} // build stage path -> image path
	for _, in := range parseDockerfile(read(t, "Dockerfile")) {
		switch {
		case in.cmd == "ARG":
			name, def, _ := strings.Cut(in.args, "=")
			if _, set := env[name]; !set {
				env[name] = def
			}
		case in.cmd == "RUN" && strings.Contains(in.args, buildScript):
			run = in.args
		case in.cmd == "COPY" && strings.HasPrefix(in.args, "--from=build "):
			f := strings.Fields(in.args)
			from[f[1]] = f[2]
		}
	}
	if run == "" || len(from) == 0 {
		t.Fatalf("Dockerfile: no RUN of %s (%q) or no COPY --from=build (%q)", buildScript, run, from)
	}
	if env["TARGETOS"] != "linux" {
		t.Fatalf("Dockerfile: ARG TARGETOS=%q, want linux", env["TARGETOS"])
	}
	dockerDir := filepath.Join(tmp, "docker")
	if err := os.Mkdir(dockerDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for src, dst := range from {
		if !strings.Contains(run, src) {
			t.Fatalf("Dockerfile: the build does not write %s, which the image copies", src)
		}
		run = strings.ReplaceAll(run, src, filepath.Join(dockerDir, path.Base(dst)))
	}
	cmd := exec.Command("sh", "-c", run)
	cmd.Dir = ctx
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the Dockerfile's build in its context: %v\n%s", err, out)
	}

	makeDir := filepath.Join(tmp, "make")
	cmd = exec.Command("make", "--no-print-directory", "build", "BIN="+filepath.Join(makeDir, "podseq"), "VERSION="+version, "GOARCH="+runtime.GOARCH)
	cmd.Dir = repo
	cmd.Env = append(os.Environ(), "GOOS=linux")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make build: %v\n%s", err, out)
	}

	for _, dst := range from {
		name := path.Base(dst)
		a, err := os.ReadFile(filepath.Join(dockerDir, name))
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(makeDir, name))
		if err != nil {
			t.Fatalf("the image has %s, make build does not build it: %v", dst, err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("the Dockerfile's %s (%d bytes) differs from make build's (%d bytes)", name, len(a), len(b))
		}
		out, err := exec.Command(filepath.Join(makeDir, name), "--version").CombinedOutput()
		if err != nil || !strings.Contains(string(out), version) {
			t.Errorf("%s --version: %v, %q, want %s in it", name, err, out, version)
		}
	}
}

// imageSpec is what an image is made of, as a Dockerfile's final stage or
// hack/image-tar.sh's mkimage flags say it.
type imageSpec struct {
	files      []string // paths in the image, sorted
	user       string
	entrypoint string
	labels     map[string]string
}

// TestImageInStep: the Dockerfile and hack/image-tar.sh (which make
// image-tar and make release run) make the same image: the same files, user,
// entrypoint and labels, the labels being the OCI ones the release promises.
func TestImageInStep(t *testing.T) {
	var docker imageSpec
	docker.labels = map[string]string{}
	final := false
	for _, in := range parseDockerfile(read(t, "Dockerfile")) {
		if in.cmd == "FROM" {
			final = in.args == "scratch"
			continue
		}
		if !final {
			continue
		}
		switch in.cmd {
		case "COPY":
			f := strings.Fields(in.args)
			docker.files = append(docker.files, f[len(f)-1])
		case "USER":
			docker.user = in.args
		case "ENTRYPOINT":
			docker.entrypoint = strings.Trim(in.args, `[]"`)
		case "LABEL":
			for _, kv := range strings.Fields(in.args) {
				k, v, _ := strings.Cut(kv, "=")
				docker.labels[k] = v
			}
		}
	}
	if !final {
		t.Fatal("Dockerfile: the final stage is not FROM scratch")
	}

	tarSpec := imageSpec{labels: map[string]string{}}
	flagRE := regexp.MustCompile(`(?m)-(file|label|entrypoint|user) ("[^"]*"|[^\s)]+)`)
	script := read(t, "hack/image-tar.sh")
	_, mk, ok := strings.Cut(script, "go run ./mkimage")
	if !ok {
		t.Fatal("hack/image-tar.sh does not run mkimage")
	}
	for _, m := range flagRE.FindAllStringSubmatch(mk, -1) {
		v := strings.Trim(m[2], `"`)
		switch m[1] {
		case "file":
			parts := strings.Split(v, ":")
			tarSpec.files = append(tarSpec.files, parts[1])
		case "label":
			k, val, _ := strings.Cut(v, "=")
			tarSpec.labels[k] = val
		case "entrypoint":
			tarSpec.entrypoint = v
		case "user":
			tarSpec.user = v
		}
	}
	slices.Sort(docker.files)
	slices.Sort(tarSpec.files)
	if !slices.Equal(docker.files, tarSpec.files) || docker.user != tarSpec.user || docker.entrypoint != tarSpec.entrypoint {
		t.Errorf("the Dockerfile makes files %q, user %q, entrypoint %q; hack/image-tar.sh files %q, user %q, entrypoint %q",
			docker.files, docker.user, docker.entrypoint, tarSpec.files, tarSpec.user, tarSpec.entrypoint)
	}
	if !maps.Equal(docker.labels, tarSpec.labels) {
		t.Errorf("labels: the Dockerfile %v, hack/image-tar.sh %v", docker.labels, tarSpec.labels)
	}
	for _, want := range []string{"/podseq", "/kubectl-podseq"} {
		if !slices.Contains(docker.files, want) {
			t.Errorf("the image has no %s", want)
		}
	}
	if docker.user != "65532:65532" {
		t.Errorf("the image runs as %q, want 65532:65532 (nonroot)", docker.user)
	}
	for k, v := range map[string]string{
		"org.opencontainers.image.source":   "https://github.com/podseq/podseq",
		"org.opencontainers.image.version":  "$VERSION",
		"org.opencontainers.image.revision": "$REVISION",
		"org.opencontainers.image.licenses": "Apache-2.0",
	} {
		if docker.labels[k] != v {
			t.Errorf("label %s=%q, want %q", k, docker.labels[k], v)
		}
	}
}

// TestMakeHelp: `make help` lists every target of the Makefile with its ##
// comment, and every .PHONY target has one.
func TestMakeHelp(t *testing.T) {
	mk := read(t, "Makefile")
	documented := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^([a-zA-Z0-9_-]+):.*## (.*)$`).FindAllStringSubmatch(mk, -1) {
		documented[m[1]] = strings.TrimSpace(m[2])
	}
	phony := regexp.MustCompile(`(?m)^\.PHONY:(.*)$`).FindStringSubmatch(mk)
	if phony == nil {
		t.Fatal("Makefile: no .PHONY line")
	}
	targets := strings.Fields(phony[1])
	for _, tg := range targets {
		if _, ok := documented[tg]; !ok {
			t.Errorf("Makefile: target %s has no ## comment, so make help does not list it", tg)
		}
	}
	if !slices.Contains(targets, "help") {
		t.Error("Makefile: no help target in .PHONY")
	}
	cmd := exec.Command("make", "--no-print-directory", "-s", "help")
	cmd.Dir = repo
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make help: %v\n%s", err, out)
	}
	for tg, text := range documented {
		if !regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(tg) + `\s+` + regexp.QuoteMeta(text) + `$`).Match(out) {
			t.Errorf("make help does not list %s with %q:\n%s", tg, text, out)
		}
	}
}
