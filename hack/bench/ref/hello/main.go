// Command hello is the floor of a Go process's life on this machine: a
// static hello-world, built as podseq is. make bench measures it next to
// podseq wait.
package main

import "os"

func main() { _, _ = os.Stdout.WriteString("hello, world\n") }
