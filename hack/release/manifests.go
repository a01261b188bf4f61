package main

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/podseq/podseq/internal/version"
)

// renderManifests builds every directory of src with kustomize, as
// `kubectl apply -k` does, after pointing its podseq images: entry at image
// (REPOSITORY:TAG@DIGEST), and writes each as out/podseq-DIR.yaml, ready for
// `kubectl apply -f`.
func renderManifests(src, out, image string) error {
	mem := filesys.MakeFsInMemory()
	var dirs []string
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		dst := path.Join("/manifests", filepath.ToSlash(rel))
		if d.IsDir() {
			return mem.MkdirAll(dst)
		}
		if d.Name() == "kustomization.yaml" {
			dirs = append(dirs, path.Dir(filepath.ToSlash(rel)))
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return mem.WriteFile(dst, b)
	})
	if err != nil {
		return err
	}
	slices.Sort(dirs)
	repo, rest, _ := strings.Cut(image, ":")
	tag, digest, _ := strings.Cut(rest, "@")
	for _, dir := range dirs {
		if strings.Contains(dir, "/") {
			continue // a base or overlay inside an example: built through its parent
		}
		k := path.Join("/manifests", dir, "kustomization.yaml")
		if err := pinImage(mem, k, repo, tag, digest); err != nil {
			return fmt.Errorf("%s: %w", dir, err)
		}
		m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(mem, path.Dir(k))
		if err != nil {
			return fmt.Errorf("kustomize build %s: %w", dir, err)
		}
		y, err := m.AsYaml()
		if err != nil {
			return fmt.Errorf("%s: %w", dir, err)
		}
		head := fmt.Sprintf("# podseq's example manifests/%s, built by kustomize with the released image\n"+
			"# %s pinned by digest. kubectl apply -f this file.\n", dir, image)
		if err := writeFile(filepath.Join(out, "podseq-"+dir+".yaml"), append([]byte(head), y...)); err != nil {
			return err
		}
	}
	return nil
}

// pinImage points a kustomization's images: entry for podseq's image (the
// manifests write the release image, version.Repository, and map it to the
// checkout's podseq:dev) at repo:tag@digest, adding the entry if there is
// none, as `kustomize edit set image` does.
func pinImage(mem filesys.FileSystem, file, repo, tag, digest string) error {
	b, err := mem.ReadFile(file)
	if err != nil {
		return err
	}
	var k types.Kustomization
	if err := yaml.Unmarshal(b, &k); err != nil {
		return err
	}
	i := slices.IndexFunc(k.Images, func(i types.Image) bool { return i.Name == version.Repository })
	if i < 0 {
		k.Images = append(k.Images, types.Image{Name: version.Repository})
		i = len(k.Images) - 1
	}
	k.Images[i].NewName, k.Images[i].NewTag, k.Images[i].Digest = repo, tag, digest
	if b, err = yaml.Marshal(&k); err != nil {
		return err
	}
	return mem.WriteFile(file, b)
}
