package probes

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
)

// fileProber checks that a file exists. It only looks the name up and never
// opens it, so whatever is there (a named pipe, a device) cannot block it.
type fileProber struct {
	path string
}

func newFile(u *url.URL, _ *Options) (Prober, error) {
	if err := noExtras(u, false); err != nil {
		return nil, err
	}
	if u.Host != "" && u.Host != "localhost" {
		return nil, fmt.Errorf("host %q: write file:///absolute/path (three slashes)", u.Host)
	}
	if u.Path == "" || u.Path == "/" {
		return nil, errors.New("missing file path")
	}
	return &fileProber{path: u.Path}, nil
}

func (p *fileProber) Check(context.Context) error {
	_, err := os.Stat(p.path)
	if errors.Is(err, fs.ErrNotExist) {
		return errors.New("no such file")
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
