// Package packaging holds the tests that keep the ways of building podseq in
// step: the Dockerfile, `make build` and `make image-tar` build the same
// binary (all through hack/build.sh, and the Dockerfile's build, run in a
// copy of its build context, gives the bytes `make build` gives), and
// `make help` lists every target.
package packaging
