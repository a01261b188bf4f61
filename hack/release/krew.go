package main

import (
	"bytes"
	"text/template"

	"github.com/podseq/podseq/internal/version"
)

// krewTemplate is the krew plugin manifest of kubectl-podseq
// (krew.googlecontainertools.github.com/v1alpha2 Plugin).
var krewTemplate = template.Must(template.New("krew").Parse(`apiVersion: krew.googlecontainertools.github.com/v1alpha2
kind: Plugin
metadata:
  name: podseq
spec:
  version: {{.Version}}
  homepage: {{.Homepage}}
  shortDescription: Put the containers of a pod in order
  description: |
    podseq inject adds podseq to existing workloads (Deployment, StatefulSet,
    DaemonSet, Job, CronJob, Pod, ...) from one annotation on the pod template,
    after.podseq.dev/CONTAINER: DEP, so that CONTAINER starts only once DEP is
    ready: a postStart gate, native sidecars or tombstones, chosen per pod. It
    edits YAML on your machine and installs nothing in the cluster:

      kubectl podseq inject -f deploy.yaml | kubectl apply -f -
  caveats: |
    The pods inject writes pull {{.Image}}
    (override with --image). Re-run inject after upgrading the plugin to move
    your workloads to the new image: inject rewrites its own image.
  platforms:
{{- range .Platforms}}
  - selector:
      matchLabels:
        os: {{.OS}}
        arch: {{.Arch}}
    uri: {{.URI}}
    sha256: {{.SHA256}}
    files:
    - from: {{.Bin}}
      to: .
    - from: LICENSE
      to: .
    bin: {{.Bin}}
{{- end}}
`))

// krewPlatform is one platform of the krew manifest.
type krewPlatform struct {
	OS, Arch, URI, SHA256, Bin string
}

// krewManifest writes the krew manifest of version v: one platform per
// kubectl-podseq target, with its archive's URL and sha256 (sums, by archive
// name).
func krewManifest(v string, sums map[string]string) []byte {
	data := struct {
		Version, Homepage, Image string
		Platforms                []krewPlatform
	}{Version: v, Homepage: sourceURL, Image: version.Image(v)}
	for _, t := range targets() {
		if t.Name != "kubectl-podseq" {
			continue
		}
		data.Platforms = append(data.Platforms, krewPlatform{
			OS: t.OS, Arch: t.Arch, Bin: t.exe(),
			URI:    downloadURL + "/" + v + "/" + t.archive(v),
			SHA256: sums[t.archive(v)],
		})
	}
	var b bytes.Buffer
	if err := krewTemplate.Execute(&b, data); err != nil {
		panic(err) // the template and its data are this file's
	}
	return b.Bytes()
}
