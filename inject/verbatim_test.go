package inject

import (
	"os"
	"strings"
	"testing"
)

// TestUndoKeepsProbeLines: a startupProbe inject replaces comes back from
// --undo byte for byte, with its blank lines, comment blocks, spacing
// before end-of-line comments and indentation, in LF and CRLF files; the
// record keeps it as the file's lines.
func TestUndoKeepsProbeLines(t *testing.T) {
	t.Parallel()
	const in = `apiVersion: v1
kind: Pod
metadata:
  name: p
  annotations:
    after.podseq.dev/app: proxy
    ready.podseq.dev/proxy: tcp://localhost:15000
spec:
  containers:
  - name: proxy
    image: example.com/proxy:1
    startupProbe:

        # four columns in, as someone wrote it
        #
        tcpSocket:     # the admin port

            port: 15000
        failureThreshold: 60   # a minute
    # after the probe
  - name: app
    image: example.com/app:1
`
	for _, nl := range []string{"\n", "\r\n"} {
		text := strings.ReplaceAll(in, "\n", nl)
		res, err := Process([]byte(text), Options{})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(res.Out), `"probes":{"proxy":"\n    # four columns in`) {
			t.Errorf("the record is not the file's lines:\n%s", res.Out)
		}
		again, err := Process(res.Out, Options{})
		if err != nil || string(again.Out) != string(res.Out) {
			t.Errorf("not idempotent (%v):\n%s", err, diff(string(res.Out), string(again.Out)))
		}
		back, err := Process(res.Out, Options{Undo: true})
		if err != nil || string(back.Out) != text {
			t.Errorf("undo (%v) does not give the input back:\n%s", err, diff(text, string(back.Out)))
		}
	}
}

// TestUndoProbeRecordFromTree: a record printed from the tree (as inject
// wrote them before it kept the file's lines, and still does where it
// cannot locate them) is put back as data.
func TestUndoProbeRecordFromTree(t *testing.T) {
	t.Parallel()
	out, err := os.ReadFile("testdata/undo/probe-record-from-tree.yaml")
	if err != nil {
		t.Fatal(err)
	}
	in, err := os.ReadFile("testdata/golden/deployment-startup-probe.in.yaml")
	if err != nil {
		t.Fatal(err)
	}
	back, err := Process(out, Options{Undo: true})
	if err != nil {
		t.Fatal(err)
	}
	if string(back.Out) != string(in) {
		t.Errorf("undo does not give the input back:\n%s", diff(string(in), string(back.Out)))
	}
}
