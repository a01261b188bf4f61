package install

import "syscall"

// stNoexec is ST_NOEXEC, the noexec mount flag in statfs(2)'s f_flags.
const stNoexec = 0x8

// noexec reports whether dir's file system is mounted noexec.
func noexec(dir string) bool {
	var st syscall.Statfs_t
	return syscall.Statfs(dir, &st) == nil && st.Flags&stNoexec != 0
}
