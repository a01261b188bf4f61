package validate

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

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
