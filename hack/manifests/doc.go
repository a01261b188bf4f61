// Package manifests holds the tests that check every YAML file under the
// repository's manifests/ directory, folder by folder, so a folder added
// later is checked too: each document is decoded strictly into its
// k8s.io/api type (an unknown or misspelt field, a duplicate key or an
// unknown kind fails); every pod, init containers included, meets Pod
// Security "restricted" at its latest version (evaluated with the
// k8s.io/pod-security-admission library) and runs as a numeric non-root
// user; every folder has a kustomization.yaml listing its files, whose
// images: entry is the one place to name the real podseq image (checked by
// building each folder with kustomize after that one edit); and the pods are
// checked for what kubectl cannot see: every podseq wait has a finite
// --timeout, every podseq binary path exists in its container, and every
// port a wait or probe names is served.
package manifests
