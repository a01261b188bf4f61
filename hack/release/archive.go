package main

import (
	"archive/tar"
	"archive/zip"
	"compress/gzip"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// archiveFile is one file of an archive.
type archiveFile struct {
	Name string      // the path in the archive, slash-separated
	Src  string      // where its content is
	Mode fs.FileMode // its permissions
}

// sorted returns the files in path order, so that an archive's order does
// not depend on how its list was made.
func sorted(files []archiveFile) []archiveFile {
	files = slices.Clone(files)
	slices.SortFunc(files, func(a, b archiveFile) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	return files
}

// writeTarGz writes a gzip-compressed tar of files: every entry owned by
// 0:0 with no user or group name, stamped mtime, in path order; the gzip
// header carries no name and no time. The same files give the same bytes.
func writeTarGz(out string, files []archiveFile, mtime time.Time) error {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer f.Close()
	gz, err := gzip.NewWriterLevel(f, gzip.BestCompression)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(gz)
	for _, af := range sorted(files) {
		src, err := os.Open(af.Src)
		if err != nil {
			return err
		}
		fi, err := src.Stat()
		if err != nil {
			src.Close()
			return err
		}
		err = tw.WriteHeader(&tar.Header{
			Typeflag: tar.TypeReg,
			Name:     af.Name,
			Mode:     int64(af.Mode.Perm()),
			Size:     fi.Size(),
			ModTime:  mtime,
			Format:   tar.FormatPAX,
		})
		if err == nil {
			_, err = io.Copy(tw, src)
		}
		src.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", af.Name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := gz.Close(); err != nil {
		return err
	}
	return f.Close()
}

// writeZip writes a zip of files, deflated, stamped mtime (as UTC), in path
// order, with their permissions.
func writeZip(out string, files []archiveFile, mtime time.Time) error {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer f.Close()
	zw := zip.NewWriter(f)
	for _, af := range sorted(files) {
		h := &zip.FileHeader{Name: af.Name, Method: zip.Deflate, Modified: mtime.UTC()}
		h.SetMode(af.Mode.Perm())
		w, err := zw.CreateHeader(h)
		if err != nil {
			return err
		}
		src, err := os.Open(af.Src)
		if err != nil {
			return err
		}
		_, err = io.Copy(w, src)
		src.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", af.Name, err)
		}
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return f.Close()
}

// dirFiles lists the regular files under dir as archive files named by
// their path below dir, keeping whether each is executable.
func dirFiles(dir string) ([]archiveFile, error) {
	var files []archiveFile
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("%s: not a regular file", p)
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		mode := fs.FileMode(0o644)
		if info.Mode()&0o111 != 0 {
			mode = 0o755
		}
		files = append(files, archiveFile{Name: filepath.ToSlash(rel), Src: p, Mode: mode})
		return nil
	})
	return files, err
}
