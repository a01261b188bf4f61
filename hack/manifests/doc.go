// Package manifests holds the test that checks every YAML file under the
// repository's manifests/ directory: each document is decoded strictly into
// its k8s.io/api type (an unknown or misspelt field, a duplicate key or an
// unknown kind fails), and the pods are checked for what kubectl cannot see:
// every podseq wait has a finite --timeout, every podseq binary path exists in
// its container, and every port a wait or probe names is served.
package manifests
