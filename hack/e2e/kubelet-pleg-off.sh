#!/usr/bin/env bash
# Builds the newest release's kubelet (hack/cluster's k8s.io/kubernetes) as if
# its feature gate PLEGOnDemandRelist were off, and prints its path. The gate
# is GA and locked on in v1.37: the kubelet refuses PLEGOnDemandRelist=false.
# Its one use in the kubelet is GenericPLEG.RequestRelist, which returns at
# once when the gate is off; this build reads the gate there as false, and
# nothing else changes. Go forbids overlays on the module cache, so the build
# uses a copy of k8s.io/kubernetes (124 MB) through a replace directive in a
# copy of hack/cluster's go.mod. The e2e harness takes the binary as
# -kubelet-pleg-off (the scenario pleg-gate).
#
#   hack/e2e/kubelet-pleg-off.sh    # -> /var/cache/podseq-e2e/kubelet-pleg-off-v1.37.2/kubelet
set -euo pipefail
cd "$(dirname "$0")/../.."
cache=${PODSEQ_E2E_CACHE:-/var/cache/podseq-e2e}
export CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS="${GOFLAGS:-} -buildvcs=false"
k8s=$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v/ {print $2; exit}' hack/cluster/go.mod)
dest=$cache/kubelet-pleg-off-$k8s
if [ -x "$dest/kubelet" ]; then
  echo "$dest/kubelet"
  exit 0
fi
mod=$(cd hack/cluster && go list -m -f '{{.Dir}}' k8s.io/kubernetes)
work=$cache/src-pleg-off-$k8s
rm -rf "$work"
mkdir -p "$work/build"
cp -r "$mod" "$work/kubernetes"
chmod -R u+w "$work/kubernetes"
cp hack/cluster/go.mod hack/cluster/go.sum "$work/build/"
cat >"$work/build/main.go" <<'GO'
// Package main only anchors this module; the build is of k8s.io/kubernetes/cmd/kubelet.
package main

func main() {}
GO
echo "replace k8s.io/kubernetes => ../kubernetes" >>"$work/build/go.mod"
# The gate's check, as it reads in the source, reads false.
src=$work/kubernetes/pkg/kubelet/pleg/generic.go
gate='utilfeature.DefaultFeatureGate.Enabled(features.PLEGOnDemandRelist)'
grep -qF "!$gate" "$src" || { echo "kubelet-pleg-off: $src no longer reads the gate as expected" >&2; exit 1; }
sed -i "s/$(printf '%s' "$gate" | sed 's/[.[\*^$/]/\\&/g')/(false \&\& &)/" "$src"
grep -qF "!(false && $gate)" "$src"
minor=${k8s#v*.}
minor=${minor%%.*}
mkdir -p "$dest.tmp"
(cd "$work/build" && go build -mod=mod -trimpath \
  -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=$k8s -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor" \
  -o "$dest.tmp/" k8s.io/kubernetes/cmd/kubelet) >&2
rm -rf "$dest" "$work"
mv "$dest.tmp" "$dest"
echo "$dest/kubelet"
