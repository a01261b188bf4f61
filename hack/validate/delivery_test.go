package validate

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	utilfeature "k8s.io/apiserver/pkg/util/feature"
	featuregatetesting "k8s.io/component-base/featuregate/testing"
	podutil "k8s.io/kubernetes/pkg/api/pod"
	"k8s.io/kubernetes/pkg/features"

	"github.com/podseq/podseq/inject"
)

// TestImageVolumeDelivery: with podseq from an image volume, in every mode,
// the restricted input and the manifests of manifests/inject pass the API
// server's validation and Pod Security restricted (which allows volumes of
// type image).
func TestImageVolumeDelivery(t *testing.T) {
	cases := map[string][]inject.Mode{
		filepath.Join(golden, "restricted.in.yaml"):      {inject.Gate, inject.Native, inject.Tombstone},
		"../../manifests/inject/deployment.yaml":         {"", inject.Native},
		"../../manifests/inject/job.yaml":                {"", inject.Native, inject.Gate},
		"../../manifests/inject/native-sidecar.yaml":     {"", inject.Native, inject.Gate},
		"../../manifests/inject/native-sidecar-job.yaml": {"", inject.Native, inject.Gate},
	}
	for file, modes := range cases {
		in, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, mode := range modes {
			what := fmt.Sprintf("%s, mode %q, image-volume", filepath.Base(file), mode)
			res, err := inject.Process(in, inject.Options{Mode: mode, Image: "podseq:dev", Delivery: inject.ImageVolume})
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			w, _ := decode(t, objects(t, string(res.Out))[0])
			image := 0
			for _, v := range w.tmpl.Spec.Volumes {
				if v.Name == inject.BinVolume && v.Image != nil && v.Image.Reference == "podseq:dev" && v.Image.PullPolicy == "IfNotPresent" {
					image++
				}
			}
			if image != 1 {
				t.Errorf("%s: want one image volume %s of podseq:dev, IfNotPresent: %+v", what, inject.BinVolume, w.tmpl.Spec.Volumes)
			}
			if errs := validate(w); len(errs) > 0 {
				t.Errorf("%s: the API server rejects it: %v", what, errs.ToAggregate())
			}
			if reasons, details := restricted(t, w.tmpl); len(reasons) > 0 {
				t.Errorf("%s: not restricted: %s", what, details)
			}
		}
	}
}

// TestImageVolumeGateOff shows what an API server whose ImageVolume feature
// gate is off (v1.33 and v1.34 by default) does with image-volume delivery:
// on create it drops the image volume and every mount of it, silently, and
// what it keeps still validates: the pod is admitted without podseq, whose
// hooks and wrapped commands then cannot find /podseq-bin/podseq. With the
// gate on, as from v1.35, the volume stays.
func TestImageVolumeGateOff(t *testing.T) {
	in, err := os.ReadFile("../../manifests/inject/deployment.yaml")
	if err != nil {
		t.Fatal(err)
	}
	res, err := inject.Process(in, inject.Options{Image: "podseq:dev", Delivery: inject.ImageVolume})
	if err != nil {
		t.Fatal(err)
	}
	for _, on := range []bool{false, true} {
		t.Run(fmt.Sprintf("ImageVolume=%v", on), func(t *testing.T) {
			featuregatetesting.SetFeatureGateDuringTest(t, utilfeature.DefaultFeatureGate, features.ImageVolume, on)
			w, _ := decode(t, objects(t, string(res.Out))[0])
			podutil.DropDisabledTemplateFields(w.tmpl, nil)
			volumes, mounts := 0, 0
			for _, v := range w.tmpl.Spec.Volumes {
				if v.Name == inject.BinVolume {
					volumes++
				}
			}
			for _, c := range w.tmpl.Spec.Containers {
				for _, m := range c.VolumeMounts {
					if m.Name == inject.BinVolume {
						mounts++
					}
				}
			}
			if errs := validate(w); len(errs) > 0 {
				t.Errorf("the API server rejects it: %v", errs.ToAggregate())
			}
			want := map[bool][2]int{false: {0, 0}, true: {1, 2}}[on]
			if [2]int{volumes, mounts} != want {
				t.Errorf("after the API server's create: %d %s volumes and %d mounts, want %v", volumes, inject.BinVolume, mounts, want)
			}
		})
	}
}
