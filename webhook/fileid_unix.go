//go:build unix

package webhook

import (
	"io/fs"
	"syscall"
)

// fileID is the device and inode of a file: a Secret volume's update
// swaps the files behind their names, which size and time may not show.
func fileID(fi fs.FileInfo) (dev, ino uint64) {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Dev), st.Ino
	}
	return 0, 0
}
