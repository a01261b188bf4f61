package inject

import (
	"strings"
	"testing"
)

// patchShapes are layouts that the patcher must handle without printing
// the document anew: empty collections inject fills, a last line
// without a line break, four-space indentation, a dash alone on its line,
// anchored items, comments at the ends of collections.
var patchShapes = []struct{ name, in string }{
	{"empty flow collections", `apiVersion: v1
kind: Pod
metadata:
  name: web
  annotations: {}
spec:
  initContainers: []
  volumes: []
  containers:
  - name: proxy
    image: proxy:1
    volumeMounts: []
    readinessProbe: {tcpSocket: {port: 1080}}
  - name: app
    image: app:1
    command: [/app]
    lifecycle: {}
`},
	{"no final line break", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n  annotations:\n    after.podseq.dev/app: proxy\nspec:\n  containers:\n  - name: proxy\n    image: proxy:1\n    readinessProbe: {tcpSocket: {port: 1080}}\n  - name: app\n    image: app:1\n    command:\n    - /app"},
	{"four spaces", `apiVersion: apps/v1
kind: Deployment
metadata:
    name: web
spec:
    template:
        metadata:
            annotations:
                after.podseq.dev/app: proxy
                podseq.dev/mode: native
        spec:
            containers:
                -   name: app
                    image: app:1
                    command:
                        - /app
                -   name: proxy
                    image: proxy:1
                    readinessProbe:
                        httpGet:
                            path: /ready
                            port: 8080
            initContainers:
                -   name: migrate
                    image: app:1
                    command: ["/app", "migrate"]
`},
	{"dash alone", `apiVersion: v1
kind: Pod
metadata:
  name: web
  annotations:
    after.podseq.dev/app: proxy
spec:
  containers:
  -
    name: app
    image: app:1
    command: [/app]
  -   # the proxy
    name: proxy
    image: proxy:1
    readinessProbe: {tcpSocket: {port: 1080}}
`},
	{"comments at the ends", `apiVersion: batch/v1
kind: Job
metadata:
  name: job
spec:
  template:
    metadata:
      annotations:
        after.podseq.dev/app: proxy
        # the proxy's readiness
        ready.podseq.dev/proxy: http://localhost:8080/ready
        # end of annotations
    spec:
      restartPolicy: Never
      containers:
      - name: app
        image: app:1
        command: [/app]
        # end of app
      - name: proxy
        image: proxy:1
        command:
        - /proxy
          # a deeper comment
      # end of containers
    # end of the template's spec
# end of the document
`},
	{"quoted keys and values", `"apiVersion": "v1"
'kind': 'Pod'
metadata:
  "name": "web"
  annotations:
    "after.podseq.dev/app": "proxy"
spec:
  "containers":
  - "name": "proxy"
    "image": "proxy:1"
    "readinessProbe": {"tcpSocket": {"port": 1080}}
    "resources": {"limits": {"cpu": "1"}}
  - "name": "app"
    "image": "app:1"
    "command": ["/app"]
`},
}

// TestPatchShapes: each shape is injected as a patch (never printed anew),
// every changed line is inject's or a moved one, injecting again changes
// nothing, and --undo gives the input back byte for byte.
func TestPatchShapes(t *testing.T) {
	for _, tc := range patchShapes {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := Options{Image: "podseq:v1", After: map[string][]string{"app": {"proxy"}}}
			res, reprinted, err := process([]byte(tc.in), o)
			if err != nil {
				t.Fatal(err)
			}
			if reprinted != 0 {
				t.Errorf("printed anew:\n%s", res.Out)
			}
			c := classify(t, tc.in, string(res.Out))
			if len(c.notOwned) > 0 {
				t.Errorf("lines changed that inject does not own:\n%s\noutput:\n%s", strings.Join(c.notOwned, ""), res.Out)
			}
			again, err := Process(res.Out, o)
			if err != nil || string(again.Out) != string(res.Out) {
				t.Errorf("not idempotent (%v):\n%s", err, diff(string(res.Out), string(again.Out)))
			}
			back, err := Process(res.Out, Options{Undo: true})
			if err != nil || string(back.Out) != tc.in {
				t.Errorf("undo (%v) does not restore the input:\n%s\noutput:\n%s", err, diff(tc.in, string(back.Out)), back.Out)
			}
		})
	}
}

// TestMovedContainerKeepsItsLines: a container that inject moves ahead (gate)
// or into initContainers (native) carries its own lines, byte for byte:
// the comment above it, its blank lines, its quoting and flow sequences;
// the comment above the next container stays with that one, also when
// injecting again.
func TestMovedContainerKeepsItsLines(t *testing.T) {
	t.Parallel()
	const head = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    metadata:
      annotations:
        after.podseq.dev/app: proxy
    spec:
      containers:
      # The app.
      - name: app
        image: app:1
        command: ["/app"]
`
	const proxy = `
      # The proxy: it must be ready first.
      - name: proxy
        image: 'proxy:1'
        args: ["--port", "1080", '--mode=fast']

        resources:
          limits: {cpu: "1", memory: "64Mi"}   # small
        readinessProbe:
          tcpSocket:
            port: 1080
`
	for _, mode := range []Mode{Gate, Native} {
		o := Options{Mode: mode}
		res, err := Process([]byte(head+proxy), o)
		if err != nil {
			t.Fatal(err)
		}
		out := string(res.Out)
		if !strings.Contains(out, proxy) {
			t.Errorf("%s: the proxy's lines did not move byte for byte:\n%s", mode, out)
		}
		if !strings.Contains(out, "      # The app.\n      - name: app\n") {
			t.Errorf("%s: the app lost the comment above it:\n%s", mode, out)
		}
		if strings.Index(out, "- name: proxy") > strings.Index(out, "- name: app") && mode == Gate {
			t.Errorf("gate: the proxy did not move ahead:\n%s", out)
		}
		again, err := Process(res.Out, o)
		if err != nil || string(again.Out) != out {
			t.Errorf("%s: not idempotent (%v):\n%s", mode, err, diff(out, string(again.Out)))
		}
	}
}

// TestNativeIntoOtherIndentation: a sidecar that native mode moves into
// initContainers indented otherwise than containers (Helm output mixes
// them) is shifted as a block, its block scalar and comments included;
// injecting again changes nothing and --undo gives the input back byte for
// byte.
func TestNativeIntoOtherIndentation(t *testing.T) {
	t.Parallel()
	const in = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    metadata:
      annotations:
        after.podseq.dev/app: proxy
        podseq.dev/mode: native
    spec:
      initContainers:
          - name: migrate
            image: app:1
            command: ["/app", "migrate"]
      containers:
      - name: app
        image: app:1
        command: ["/app"]
      # the proxy
      - name: proxy
        image: proxy:1
        readinessProbe:
          tcpSocket: {port: 1080}
        env:
        - name: A
          value: |
            multi
            line
`
	const moved = `          # the proxy
          - name: proxy
            image: proxy:1
            readinessProbe:
              tcpSocket: {port: 1080}
            env:
            - name: A
              value: |
                multi
                line
`
	res, reprinted, err := process([]byte(in), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if reprinted != 0 || !strings.Contains(string(res.Out), moved) {
		t.Errorf("the proxy was not moved as a block (printed anew: %d):\n%s", reprinted, res.Out)
	}
	again, err := Process(res.Out, Options{})
	if err != nil || string(again.Out) != string(res.Out) {
		t.Errorf("not idempotent (%v):\n%s", err, diff(string(res.Out), string(again.Out)))
	}
	back, err := Process(res.Out, Options{Undo: true})
	if err != nil || string(back.Out) != in {
		t.Errorf("undo (%v) does not restore the input:\n%s", err, diff(in, string(back.Out)))
	}
}
