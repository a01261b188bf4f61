package main

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Spec is what goes into the image.
type Spec struct {
	Out        string   // the docker-archive tarball to write (one architecture)
	OCI        string   // or the OCI image layout directory to write (an index of every architecture)
	Tag        string   // the image reference recorded in the tarball
	Archs      []string // amd64 and/or arm64; one for a tarball
	Labels     []string // config Labels, K=V
	Entrypoint []string // config Entrypoint
	Cmd        []string // config Cmd (nil: unset)
	User       string   // config User
	Env        []string // config Env, K=V
	Rootfs     []string // directory trees copied to /
	Files      []FileSpec
}

// FileSpec is one -file SRC:DST[:MODE].
type FileSpec struct {
	Src  string      // may hold {arch}, replaced by each image's architecture
	Dst  string      // absolute path in the image
	Mode fs.FileMode // 0: the source's permissions
}

// archs maps the supported GOARCH values to their ELF machine.
var archs = map[string]elf.Machine{
	"amd64": elf.EM_X86_64,
	"arm64": elf.EM_AARCH64,
}

// defaultPath is the PATH Docker gives an image that sets none.
const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// parseFileSpec parses SRC:DST[:MODE].
func parseFileSpec(s string) (FileSpec, error) {
	parts := strings.Split(s, ":")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return FileSpec{}, fmt.Errorf("-file %q: want SRC:DST[:MODE]", s)
	}
	fe := FileSpec{Src: parts[0], Dst: parts[1]}
	if !strings.HasPrefix(fe.Dst, "/") || path.Clean(fe.Dst) == "/" {
		return FileSpec{}, fmt.Errorf("-file %q: DST must be an absolute file path in the image", s)
	}
	fe.Dst = path.Clean(fe.Dst)
	if len(parts) == 3 {
		m, err := strconv.ParseUint(parts[2], 8, 32)
		if err != nil || m == 0 || m > 0o7777 {
			return FileSpec{}, fmt.Errorf("-file %q: MODE %q: want octal permissions such as 0755", s, parts[2])
		}
		fe.Mode = fs.FileMode(m & 0o777)
		if m&0o4000 != 0 {
			fe.Mode |= fs.ModeSetuid
		}
		if m&0o2000 != 0 {
			fe.Mode |= fs.ModeSetgid
		}
		if m&0o1000 != 0 {
			fe.Mode |= fs.ModeSticky
		}
	}
	return fe, nil
}

// entry is one file of the layer.
type entry struct {
	typ      byte // tar.TypeReg, TypeDir, TypeSymlink, TypeLink
	mode     fs.FileMode
	src      string // regular files: where the content comes from
	linkname string
}

// archPlaceholder in a -file SRC is replaced by the image's architecture.
const archPlaceholder = "{arch}"

// build writes the image described by s: a docker-archive tarball of its one
// architecture, or an OCI image layout whose index holds one image per
// architecture, in the order given.
func build(s Spec) error {
	epoch, err := sourceDateEpoch()
	if err != nil {
		return usageErr{err}
	}
	if s.OCI != "" {
		return writeLayout(s, epoch)
	}
	tag, err := name.NewTag(s.Tag)
	if err != nil {
		return usageErr{fmt.Errorf("-tag %q: %w", s.Tag, err)}
	}
	img, err := buildImage(s, s.Archs[0], epoch, false)
	if err != nil {
		return err
	}
	return writeAtomically(s.Out, func(w io.Writer) error {
		return tarball.Write(tag, img, w)
	})
}

// writeLayout writes s as an OCI image layout: its index.json names one
// image index (so that `crane push DIR REF` pushes the whole index), which
// holds one image per architecture. The layout is made beside s.OCI and
// renamed into place, so a failed run leaves none half-written.
func writeLayout(s Spec, epoch time.Time) (err error) {
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, arch := range s.Archs {
		img, err := buildImage(s, arch, epoch, true)
		if err != nil {
			return err
		}
		cfg, err := img.ConfigFile()
		if err != nil {
			return fmt.Errorf("read config: %w", err)
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{Platform: cfg.Platform()},
		})
	}
	parent := filepath.Dir(s.OCI)
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(s.OCI)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", s.OCI, err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	if err = os.Chmod(tmp, 0o755); err != nil {
		return fmt.Errorf("write %s: %w", s.OCI, err)
	}
	p, err := layout.Write(tmp, empty.Index)
	if err != nil {
		return fmt.Errorf("write %s: %w", s.OCI, err)
	}
	if err = p.AppendIndex(idx); err != nil {
		return fmt.Errorf("write %s: %w", s.OCI, err)
	}
	if err = replaceDir(tmp, s.OCI); err != nil {
		return fmt.Errorf("write %s: %w", s.OCI, err)
	}
	return nil
}

// replaceDir renames the directory src to dst, removing what was at dst.
func replaceDir(src, dst string) error {
	if _, err := os.Lstat(dst); err == nil {
		old := src + ".old"
		if err := os.Rename(dst, old); err != nil {
			return err
		}
		defer os.RemoveAll(old)
	}
	return os.Rename(src, dst)
}

// buildImage makes the image of one architecture: one layer of the files,
// stamped with epoch, and the config. oci chooses the OCI media types (for a
// layout) over Docker's (for a docker-archive tarball).
func buildImage(s Spec, arch string, epoch time.Time, oci bool) (v1.Image, error) {
	entries := map[string]*entry{}
	for _, dir := range s.Rootfs {
		if err := addTree(entries, dir); err != nil {
			return nil, err
		}
	}
	for _, f := range s.Files {
		src := strings.ReplaceAll(f.Src, archPlaceholder, arch)
		fi, err := os.Stat(src)
		if err != nil {
			return nil, fmt.Errorf("-file %s: %w", src, err)
		}
		if !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("-file %s: not a regular file", src)
		}
		mode := f.Mode
		if mode == 0 {
			mode = fi.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
		}
		entries[f.Dst] = &entry{typ: tar.TypeReg, mode: mode, src: src}
	}
	addParents(entries)
	if err := checkEntrypoint(s, arch, entries); err != nil {
		return nil, err
	}

	var layerTar bytes.Buffer
	if err := writeLayer(&layerTar, entries, epoch); err != nil {
		return nil, err
	}
	data := layerTar.Bytes()
	var opts []tarball.LayerOption
	base := empty.Image
	if oci {
		opts = append(opts, tarball.WithMediaType(types.OCILayer))
		base = mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}, opts...)
	if err != nil {
		return nil, fmt.Errorf("make layer: %w", err)
	}
	img, err := mutate.Append(base, mutate.Addendum{
		Layer:   layer,
		History: v1.History{Created: v1.Time{Time: epoch}, CreatedBy: "mkimage", Comment: "podseq hack/mkimage"},
	})
	if err != nil {
		return nil, fmt.Errorf("append layer: %w", err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	cfg = cfg.DeepCopy()
	cfg.Architecture = arch
	cfg.OS = "linux"
	if arch == "arm64" {
		cfg.Variant = "v8"
	}
	cfg.Created = v1.Time{Time: epoch}
	cfg.Config.Entrypoint = s.Entrypoint
	cfg.Config.Cmd = s.Cmd
	cfg.Config.User = s.User
	cfg.Config.Env = withDefaultPath(s.Env)
	if len(s.Labels) > 0 {
		cfg.Config.Labels = map[string]string{}
		for _, l := range s.Labels {
			k, v, _ := strings.Cut(l, "=")
			cfg.Config.Labels[k] = v
		}
	}
	if img, err = mutate.ConfigFile(img, cfg); err != nil {
		return nil, fmt.Errorf("set config: %w", err)
	}
	return img, nil
}

// withDefaultPath adds Docker's default PATH unless env sets one.
func withDefaultPath(env []string) []string {
	for _, e := range env {
		if strings.HasPrefix(e, "PATH=") {
			return slices.Clone(env)
		}
	}
	return append([]string{defaultPath}, env...)
}

// sourceDateEpoch returns SOURCE_DATE_EPOCH as a time, or the Unix epoch.
func sourceDateEpoch() (time.Time, error) {
	v := os.Getenv("SOURCE_DATE_EPOCH")
	if v == "" {
		return time.Unix(0, 0).UTC(), nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH %q: want seconds since 1970", v)
	}
	return time.Unix(n, 0).UTC(), nil
}

// addTree adds the tree under dir, keeping symlinks as symlinks and hard
// links as hard links.
func addTree(entries map[string]*entry, dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("-rootfs %s: %w", dir, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("-rootfs %s: not a directory", dir)
	}
	type inode struct{ dev, ino uint64 }
	seen := map[inode]string{}
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("-rootfs %s: %w", dir, err)
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return fmt.Errorf("-rootfs %s: %w", dir, err)
		}
		if rel == "." {
			return nil
		}
		dst := "/" + filepath.ToSlash(rel)
		info, err := d.Info()
		if err != nil {
			return fmt.Errorf("-rootfs %s: %w", dir, err)
		}
		perm := info.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
		switch {
		case d.IsDir():
			entries[dst] = &entry{typ: tar.TypeDir, mode: perm}
		case info.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return fmt.Errorf("-rootfs %s: %w", dir, err)
			}
			entries[dst] = &entry{typ: tar.TypeSymlink, mode: 0o777, linkname: target}
		case info.Mode().IsRegular():
			if st, ok := info.Sys().(*syscall.Stat_t); ok && st.Nlink > 1 {
				key := inode{uint64(st.Dev), st.Ino}
				if first, ok := seen[key]; ok {
					entries[dst] = &entry{typ: tar.TypeLink, mode: perm, linkname: first}
					return nil
				}
				seen[key] = dst
			}
			entries[dst] = &entry{typ: tar.TypeReg, mode: perm, src: p}
		default:
			return fmt.Errorf("-rootfs %s: %s is a %s: only files, directories and links go in an image", dir, rel, info.Mode().Type())
		}
		return nil
	})
}

// addParents adds every missing parent directory as 0755.
func addParents(entries map[string]*entry) {
	for p := range entries {
		for dir := path.Dir(p); dir != "/"; dir = path.Dir(dir) {
			if _, ok := entries[dir]; !ok {
				entries[dir] = &entry{typ: tar.TypeDir, mode: 0o755}
			}
		}
	}
}

// checkEntrypoint rejects an entrypoint that is an ELF binary of another
// architecture: it would fail in the cluster with "exec format error".
func checkEntrypoint(s Spec, arch string, entries map[string]*entry) error {
	if len(s.Entrypoint) == 0 {
		return nil
	}
	e, ok := entries[path.Clean(s.Entrypoint[0])]
	if !ok || e.typ != tar.TypeReg {
		return nil
	}
	f, err := elf.Open(e.src)
	if err != nil {
		return nil // not an ELF file: a script, say
	}
	defer f.Close()
	if want := archs[arch]; f.Machine != want {
		return usageErr{fmt.Errorf("entrypoint %s (%s) is built for %s, not -arch %s", s.Entrypoint[0], e.src, f.Machine, arch)}
	}
	return nil
}

// writeLayer writes the entries as a tar stream, sorted by path, every one
// owned by 0:0 and stamped with mtime.
func writeLayer(w io.Writer, entries map[string]*entry, mtime time.Time) error {
	paths := make([]string, 0, len(entries))
	for p := range entries {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	tw := tar.NewWriter(w)
	for _, p := range paths {
		e := entries[p]
		h := &tar.Header{
			Typeflag: e.typ,
			Name:     strings.TrimPrefix(p, "/"),
			Linkname: e.linkname,
			Mode:     tarMode(e.mode),
			ModTime:  mtime,
			Format:   tar.FormatPAX,
		}
		if e.typ == tar.TypeDir {
			h.Name += "/"
		}
		if e.typ == tar.TypeLink {
			h.Linkname = strings.TrimPrefix(e.linkname, "/")
		}
		if e.typ != tar.TypeReg {
			if err := tw.WriteHeader(h); err != nil {
				return fmt.Errorf("layer %s: %w", p, err)
			}
			continue
		}
		if err := writeFile(tw, h, e.src); err != nil {
			return fmt.Errorf("layer %s: %w", p, err)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("layer: %w", err)
	}
	return nil
}

// writeFile writes one regular file's header and content.
func writeFile(tw *tar.Writer, h *tar.Header, src string) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	h.Size = fi.Size()
	if err := tw.WriteHeader(h); err != nil {
		return err
	}
	n, err := io.Copy(tw, f)
	if err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	if n != h.Size {
		return fmt.Errorf("copy %s: it changed size while being read", src)
	}
	return nil
}

// tarMode turns a FileMode's permission and special bits into tar's.
func tarMode(m fs.FileMode) int64 {
	mode := int64(m.Perm())
	if m&fs.ModeSetuid != 0 {
		mode |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		mode |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		mode |= 0o1000
	}
	return mode
}

// writeAtomically writes a file through a temporary file in its directory
// and renames it into place, so a failed run leaves no partial tarball.
func writeAtomically(out string, write func(io.Writer) error) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", out, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err = write(tmp); err != nil {
		return fmt.Errorf("write %s: %w", out, err)
	}
	if err = tmp.Chmod(0o644); err != nil {
		return fmt.Errorf("write %s: %w", out, err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", out, err)
	}
	if err = os.Rename(tmp.Name(), out); err != nil {
		return fmt.Errorf("write %s: %w", out, err)
	}
	return nil
}
