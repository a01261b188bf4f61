package manifests

import (
	"bytes"
	"path"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// TestKustomizeImage builds every directory with kustomize (the library
// behind `kubectl apply -k`) after the one edit the README asks for, setting
// the podseq image as `kustomize edit set image podseq=IMAGE` does, and
// expects every podseq container the unedited build has to run IMAGE, and
// nothing to name podseq:dev (the webhook's PODSEQ_WEBHOOK_IMAGE, the image
// it adds to pods, included).
func TestKustomizeImage(t *testing.T) {
	const (
		newName = "registry.example.com/team/podseq"
		newTag  = "v1.2.3"
	)
	dirs, files := loadAll(t), readTree(t)
	build := func(t *testing.T, mem filesys.FileSystem, dir string) []byte {
		t.Helper()
		m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(mem, path.Join("/manifests", dir))
		if err != nil {
			t.Fatalf("kustomize build %s: %v", dir, err)
		}
		out, err := m.AsYaml()
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	count := func(t *testing.T, dir string, out []byte) []object {
		t.Helper()
		built, err := decodeFile(dir+" (built)", out)
		if err != nil {
			t.Fatal(err)
		}
		return built
	}
	for dir := range dirs {
		t.Run(dir, func(t *testing.T) {
			want := 0
			eachContainer(count(t, dir, build(t, copyManifests(t, files), dir)), func(_ object, c corev1.Container) {
				if isPodseqImage(c.Image) {
					want++
				}
			})
			inFiles := 0
			eachContainer(dirs[dir], func(_ object, c corev1.Container) {
				if isPodseqImage(c.Image) {
					inFiles++
				}
			})
			if want < inFiles {
				t.Fatalf("kustomize build %s: %d podseq containers, fewer than the %d of its files", dir, want, inFiles)
			}
			mem := copyManifests(t, files)
			setImage(t, mem, path.Join("/manifests", dir, "kustomization.yaml"), newName, newTag)
			out := build(t, mem, dir)
			if bytes.Contains(out, []byte(devImage)) {
				t.Errorf("kustomize build %s still names %s:\n%s", dir, devImage, out)
			}
			got := 0
			eachContainer(count(t, dir, out), func(o object, c corev1.Container) {
				if isPodseqImage(c.Image) {
					got++
					if c.Image != newName+":"+newTag {
						t.Errorf("%s: container %s: image %q, want %s:%s", o, c.Name, c.Image, newName, newTag)
					}
				}
				for _, e := range c.Env {
					if e.Name == "PODSEQ_WEBHOOK_IMAGE" && e.Value != newName+":"+newTag {
						t.Errorf("%s: container %s: PODSEQ_WEBHOOK_IMAGE %q, want %s:%s", o, c.Name, e.Value, newName, newTag)
					}
				}
			})
			if got != want {
				t.Errorf("kustomize build %s: %d podseq containers, want %d as before the edit", dir, got, want)
			}
		})
	}
}

// copyManifests copies files, manifests/ as readTree read it, into an
// in-memory file system at /manifests, so that a kustomization may be edited
// without touching the repository.
func copyManifests(t *testing.T, files []treeFile) filesys.FileSystem {
	t.Helper()
	mem := filesys.MakeFsInMemory()
	for _, f := range files {
		if err := mem.WriteFile(path.Join("/manifests", f.rel), f.data); err != nil {
			t.Fatal(err)
		}
	}
	return mem
}

// setImage sets the podseq entry of a kustomization's images: to
// newName:newTag, adding the entry if there is none, as
// `kustomize edit set image ghcr.io/podseq/podseq=newName:newTag` does.
func setImage(t *testing.T, mem filesys.FileSystem, file, newName, newTag string) {
	t.Helper()
	data, err := mem.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var k types.Kustomization
	if err := yaml.Unmarshal(data, &k); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	i := slices.IndexFunc(k.Images, func(im types.Image) bool { return im.Name == releaseRepo })
	if i < 0 {
		k.Images = append(k.Images, types.Image{Name: releaseRepo})
		i = len(k.Images) - 1
	}
	k.Images[i].NewName, k.Images[i].NewTag = newName, newTag
	out, err := yaml.Marshal(&k)
	if err != nil {
		t.Fatal(err)
	}
	if err := mem.WriteFile(file, out); err != nil {
		t.Fatal(err)
	}
}

// TestKustomizationCatches: a directory without a kustomization, one that
// leaves a file out, one without the podseq images: entry (or with one that
// does not map to podseq:dev) and a podseq image written otherwise than as a
// release's are each reported.
func TestKustomizationCatches(t *testing.T) {
	fresh := func(t *testing.T) []object {
		t.Helper()
		return append(loadFile(t, "demo/deployment.yaml"), loadFile(t, "demo/kustomization.yaml")...)
	}
	check := func(objs []object) []string {
		var got []string
		checkKustomization(func(m string) { got = append(got, m) }, "demo", objs)
		return got
	}
	if got := check(fresh(t)); got != nil {
		t.Fatalf("manifests/demo itself: %q", got)
	}
	kust := func(objs []object) *kustomization { return objs[len(objs)-1].obj.(*kustomization) }
	cases := []struct {
		name   string
		mutate func(objs []object) []object
		want   string
	}{
		{"no kustomization", func(objs []object) []object { return objs[:len(objs)-1] }, "has no kustomization.yaml"},
		{"file not listed", func(objs []object) []object { kust(objs).Resources = nil; return objs }, "does not list deployment.yaml"},
		{"no images entry", func(objs []object) []object { kust(objs).Images = nil; return objs }, "no images: entry mapping"},
		{"other image entry only", func(objs []object) []object {
			kust(objs).Images = []types.Image{{Name: "busybox", NewTag: "1.37"}}
			return objs
		}, "no images: entry mapping"},
		{"entry mapping elsewhere", func(objs []object) []object {
			kust(objs).Images = []types.Image{{Name: releaseRepo, NewName: "registry.example.com/podseq", NewTag: "v1"}}
			return objs
		}, "no images: entry mapping"},
		{"another registry written in place", func(objs []object) []object {
			spec, _ := podSpec(objs[0].obj)
			spec.Containers[0].Image = "ghcr.io/someone/podseq:v1"
			return objs
		}, "write ghcr.io/podseq/podseq:vX.Y.Z"},
		{"dev image written in place", func(objs []object) []object {
			spec, _ := podSpec(objs[0].obj)
			spec.Containers[0].Image = devImage
			return objs
		}, "write ghcr.io/podseq/podseq:vX.Y.Z"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := check(c.mutate(fresh(t)))
			if !slices.ContainsFunc(got, func(m string) bool { return strings.Contains(m, c.want) }) {
				t.Errorf("got %q, want a report holding %q", got, c.want)
			}
		})
	}
}
