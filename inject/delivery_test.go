package inject

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var deliveries = []Delivery{InitContainer, ImageVolume}

// checkSwitch checks, for an input inject accepts, every pair of
// deliveries: injecting the output of one with the other gives what
// injecting the input with the other gives, that output is stable, and
// --undo of any of them gives back what --undo of a plain inject gives.
// o is the rest of the options.
func checkSwitch(t *testing.T, in []byte, o Options) {
	t.Helper()
	with := func(src []byte, d Delivery) ([]byte, error) {
		o := o
		o.Delivery = d
		res, err := Process(src, o)
		if err != nil {
			return nil, err
		}
		return res.Out, nil
	}
	direct := map[Delivery][]byte{}
	for _, d := range deliveries {
		out, err := with(in, d)
		if err != nil {
			if !errors.Is(err, ErrBadInput) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("delivery %s: error not one bad-input line: %v", d, err)
			}
			return // the delivery does not change what inject refuses
		}
		direct[d] = out
	}
	undone := map[Delivery]string{}
	for _, from := range deliveries {
		for _, to := range deliveries {
			got, err := with(direct[from], to)
			if err != nil {
				t.Fatalf("%s then %s: %v\ninput:\n%s", from, to, err, in)
			}
			if string(got) != string(direct[to]) {
				t.Fatalf("%s then %s differs from %s alone:\n%s\ninput:\n%s", from, to, to, diff(string(direct[to]), string(got)), in)
			}
		}
		back, err := Process(direct[from], Options{Undo: true})
		if err != nil {
			t.Fatalf("undo of %s: %v", from, err)
		}
		undone[from] = string(back.Out)
	}
	if undone[ImageVolume] != undone[InitContainer] {
		t.Fatalf("undo of image-volume and of init-container differ:\n%s", diff(undone[InitContainer], undone[ImageVolume]))
	}
}

// TestSwitchDeliveryGolden: on every golden input, switching delivery on
// an injected manifest gives the same as injecting the input with it.
func TestSwitchDeliveryGolden(t *testing.T) {
	ins, _ := filepath.Glob("testdata/golden/*.in.*")
	for _, inPath := range ins {
		t.Run(filepath.Base(inPath), func(t *testing.T) {
			t.Parallel()
			in, err := os.ReadFile(inPath)
			if err != nil {
				t.Fatal(err)
			}
			checkSwitch(t, in, optionsFromHeader(t, string(in)))
		})
	}
}

// TestImageVolumeDelivery: image-volume adds no install container and no
// emptyDir for podseq, mounts the image read-only wherever podseq runs, and
// says once on stderr what it needs, for a stream with several pods; the
// annotation asks for it and the flag overrides the annotation.
func TestImageVolumeDelivery(t *testing.T) {
	t.Parallel()
	const pod = `apiVersion: v1
kind: Pod
metadata:
  name: NAME
  annotations:
    after.podseq.dev/app: proxy
    podseq.dev/delivery: image-volume
spec:
  containers:
  - name: app
    image: example.com/app:1
    command: [/app]
  - name: proxy
    image: example.com/proxy:1
    readinessProbe:
      tcpSocket: {port: 5432}
`
	in := strings.Replace(pod, "NAME", "a", 1) + "---\n" + strings.Replace(pod, "NAME", "b", 1)
	res, err := Process([]byte(in), Options{Image: "registry.example/podseq:v9"})
	if err != nil {
		t.Fatal(err)
	}
	out := string(res.Out)
	if n := strings.Count(out, "image:\n      reference: registry.example/podseq:v9\n      pullPolicy: IfNotPresent\n"); n != 2 {
		t.Errorf("%d image volumes, want one per pod:\n%s", n, out)
	}
	if strings.Contains(out, InstallContainer) || strings.Contains(out, "emptyDir") {
		t.Errorf("an install container or emptyDir:\n%s", out)
	}
	if n := strings.Count(out, "- name: "+BinVolume+"\n      mountPath: "+BinDir+"\n      readOnly: true\n"); n != 4 {
		t.Errorf("%d read-only mounts of %s, want 4 (proxy and app, twice):\n%s", n, BinVolume, out)
	}
	if len(res.Warnings) != 1 || res.Warnings[0] != ImageVolumeNeeds {
		t.Errorf("warnings %q, want the one line of ImageVolumeNeeds", res.Warnings)
	}
	// The flag overrides the annotation, which inject writes back and --undo
	// restores.
	res, err = Process([]byte(in), Options{Delivery: InitContainer})
	if err != nil {
		t.Fatal(err)
	}
	if out := string(res.Out); strings.Count(out, "name: "+InstallContainer) != 2 || strings.Contains(out, "reference:") || strings.Count(out, DeliveryKey+": init-container") != 2 {
		t.Errorf("--delivery init-container over the annotation:\n%s", out)
	}
	if len(res.Warnings) != 0 {
		t.Errorf("warnings %q with init-container", res.Warnings)
	}
	back, err := Process(res.Out, Options{Undo: true})
	if err != nil || string(back.Out) != in {
		t.Errorf("undo (%v) does not give the input back:\n%s", err, diff(in, string(back.Out)))
	}
}

// TestImageVolumeNoHook: a pod whose every hook is its own gets nothing
// delivered, and no line about image volumes.
func TestImageVolumeNoHook(t *testing.T) {
	t.Parallel()
	in, err := os.ReadFile("testdata/golden/existing-wait-no-probe.in.yaml")
	if err != nil {
		t.Fatal(err)
	}
	res, err := Process(in, Options{Delivery: ImageVolume})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(res.Out), "reference:") != (len(res.Warnings) > 0 && res.Warnings[len(res.Warnings)-1] == ImageVolumeNeeds) {
		t.Errorf("the line about image volumes (%q) does not match the output:\n%s", res.Warnings, res.Out)
	}
}

// FuzzSwitchDelivery: on workloads of FuzzInjectPods's generator, in every
// mode, switching delivery gives what injecting the input with it gives.
func FuzzSwitchDelivery(f *testing.F) {
	f.Add([]byte{0, 2, 1, 0, 0, 1, 3, 0})
	f.Add([]byte{6, 3, 7, 7, 7, 1, 2, 3, 4, 5, 2})
	f.Add([]byte{7, 4, 255, 128, 64, 32, 16, 8, 4, 2, 1, 3})
	f.Add([]byte{1, 5, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 1, 1})
	f.Fuzz(func(t *testing.T, seed []byte) {
		checkSwitch(t, []byte(genWorkload(seed)), Options{})
	})
}

// FuzzSwitchDeliveryInput: the same on any input (seeds: the golden and
// bad inputs).
func FuzzSwitchDeliveryInput(f *testing.F) {
	for _, dir := range []string{"testdata/golden/*.in.*", "testdata/bad/*"} {
		files, _ := filepath.Glob(dir)
		for _, file := range files {
			b, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		checkSwitch(t, in, Options{Image: "podseq:fuzz"})
	})
}
