// Command httpget is the floor of any Go HTTP waiter: one net/http GET of
// its argument, exit 0 on 200-399. make bench measures it next to podseq
// wait on a target that is already ready.
package main

import (
	"net/http"
	"os"
)

func main() {
	if len(os.Args) != 2 {
		os.Exit(2)
	}
	resp, err := http.Get(os.Args[1])
	if err != nil {
		os.Exit(1)
	}
	_ = resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 399 {
		os.Exit(1)
	}
}
