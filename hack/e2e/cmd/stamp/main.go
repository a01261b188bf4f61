// Command stamp appends the current time to files, for the e2e harness:
// busybox's date has no nanoseconds. Each line is "<unix-nanoseconds> <RFC3339Nano>".
//
//	stamp FILE...
//
// Exit codes: 0 written, 1 a file could not be written, 2 no FILE given.
package main

import (
	"fmt"
	"os"
	"time"
)

func main() {
	now := time.Now()
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: stamp FILE...")
		os.Exit(2)
	}
	line := fmt.Sprintf("%d %s\n", now.UnixNano(), now.UTC().Format(time.RFC3339Nano))
	code := 0
	for _, p := range os.Args[1:] {
		if err := appendLine(p, line); err != nil {
			fmt.Fprintf(os.Stderr, "stamp: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

func appendLine(path, line string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o666)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(line); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}
