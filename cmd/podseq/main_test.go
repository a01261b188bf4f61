package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// testHelperEnv names the helper a re-executed test binary runs instead of
// the tests: PODSEQ_TEST_HELPER=NAME. Test files register helpers with
// registerTestHelper from an init function.
const testHelperEnv = "PODSEQ_TEST_HELPER"

// testHelpers maps a helper name to its body, which returns the exit code.
var testHelpers = map[string]func(args []string) int{}

// registerTestHelper registers a helper that a test can start as a child
// process with testHelperCommand. Call it from init.
func registerTestHelper(name string, body func(args []string) int) {
	if _, dup := testHelpers[name]; dup {
		panic("duplicate test helper " + name)
	}
	testHelpers[name] = body
}

// testHelperCommand returns a command that re-executes the test binary as the
// helper name, with args.
func testHelperCommand(t *testing.T, name string, args ...string) *exec.Cmd {
	t.Helper()
	if _, ok := testHelpers[name]; !ok {
		t.Fatalf("no test helper %q", name)
	}
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), testHelperEnv+"="+name)
	return cmd
}

// binDir holds the podseq binary that end-to-end tests build once.
var binDir string

// TestMain runs a helper when asked to (see registerTestHelper); otherwise it
// runs the tests and removes the binary they built.
func TestMain(m *testing.M) {
	if name := os.Getenv(testHelperEnv); name != "" {
		body, ok := testHelpers[name]
		if !ok {
			fmt.Fprintf(os.Stderr, "unknown test helper %q\n", name)
			os.Exit(100)
		}
		os.Exit(body(os.Args[1:]))
	}
	dir, err := os.MkdirTemp("", "podseq-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var (
	buildOnce sync.Once
	buildErr  error
)

// podseqBinary returns the path of a podseq binary built from this package,
// building it once per test run (static, as `make build` does, with version
// "test").
func podseqBinary(t *testing.T) string {
	t.Helper()
	path := filepath.Join(binDir, "podseq")
	buildOnce.Do(func() {
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-X github.com/podseq/podseq/internal/version.stamped=test", "-o", path, ".")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out.String())
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return path
}

// inProcess serializes in-process runs: urfave/cli v2 mutates its global
// HelpFlag (BoolFlag.Apply) in every run, a data race when two apps run at
// once. Every test of this package that calls run or newApp(...).Run must
// hold it.
var inProcess sync.Mutex

// runInProcess runs podseq with args (without the program name) in-process
// and returns its exit code, stdout and stderr. It holds inProcess.
func runInProcess(args ...string) (code int, stdout, stderr string) {
	inProcess.Lock()
	defer inProcess.Unlock()
	var out, errb bytes.Buffer
	code = run(append([]string{"podseq"}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

// stderrLines splits stderr into lines, without the final newline.
func stderrLines(s string) []string {
	s = strings.TrimSuffix(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}
