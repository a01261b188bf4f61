package node

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestUnescapeMount(t *testing.T) {
	t.Parallel()
	if got := unescapeMount(`/tmp/a\040b/c`); got != "/tmp/a b/c" {
		t.Errorf("got %q", got)
	}
}

func TestContainerLogLines(t *testing.T) {
	t.Parallel()
	n := &Node{Dir: t.TempDir(), KubeletMinor: podLogsDirSince}
	dir := filepath.Join(n.podLogsDir(), "default_p-"+Name+"_uid", "proxy")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// Two instances of the container; the second's lines come after the first's.
	write := func(file, data string) {
		if err := os.WriteFile(filepath.Join(dir, file), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("0.log", "2026-12-01T15:40:36.127504339Z stderr F podseq: stopping the command reason=POST /quitquitquit\n")
	write("1.log", "2026-12-01T15:40:37.5Z stdout F \n2026-12-01T15:40:38Z stderr F podseq: stopped on request: exiting 0\n")
	lines, err := n.ContainerLogLines("p", "proxy")
	if err != nil {
		t.Fatal(err)
	}
	want := []LogLine{
		{At: time.Date(2026, 12, 1, 15, 40, 36, 127504339, time.UTC), Text: "podseq: stopping the command reason=POST /quitquitquit"},
		{At: time.Date(2026, 12, 1, 15, 40, 37, 5e8, time.UTC), Text: ""},
		{At: time.Date(2026, 12, 1, 15, 40, 38, 0, time.UTC), Text: "podseq: stopped on request: exiting 0"},
	}
	if !reflect.DeepEqual(lines, want) {
		t.Errorf("ContainerLogLines = %+v, want %+v", lines, want)
	}
	write("1.log", "not a CRI line\n")
	if _, err := n.ContainerLogLines("p", "proxy"); err == nil || !strings.Contains(err.Error(), `"not a CRI line"`) {
		t.Errorf("a malformed line: err = %v, want one naming it", err)
	}
}

func TestVersionedKubeletConfig(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		minor   int
		want    []string
		wantNot []string
		logs    string
	}{
		{27, nil, []string{"podLogsDir", "failCgroupV1"}, defaultPodLogsDir},
		{30, []string{"podLogsDir: /n/pod-logs\n"}, []string{"failCgroupV1"}, "/n/pod-logs"},
		{37, []string{"podLogsDir: /n/pod-logs\n", "failCgroupV1: false\n"}, nil, "/n/pod-logs"},
	} {
		n := &Node{Dir: "/n", KubeletMinor: tc.minor}
		got := n.versionedKubeletConfig()
		for _, w := range tc.want {
			if !strings.Contains(got, w) {
				t.Errorf("v1.%d: config %q lacks %q", tc.minor, got, w)
			}
		}
		for _, w := range tc.wantNot {
			if strings.Contains(got, w) {
				t.Errorf("v1.%d: config %q has %q, which this kubelet lacks", tc.minor, got, w)
			}
		}
		if n.podLogsDir() != tc.logs {
			t.Errorf("v1.%d: podLogsDir() = %q, want %q", tc.minor, n.podLogsDir(), tc.logs)
		}
	}
}
