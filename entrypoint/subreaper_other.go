//go:build !linux

package entrypoint

import "errors"

// setSubreaper is Linux only.
func setSubreaper() error { return errors.New("child subreapers are a Linux feature") }
