// Package krew is empty: the module exists for its tools, krew and
// validate-krew-manifest (go tool krew, go tool validate-krew-manifest), which
// the release test (hack/release) builds and runs.
package krew
