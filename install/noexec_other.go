//go:build !linux

package install

// noexec reports whether dir's file system is mounted noexec: only known on
// Linux, where podseq runs in pods.
func noexec(string) bool { return false }
