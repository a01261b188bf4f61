#!/usr/bin/env bash
# hack/e2e/components.sh RELEASE: builds, from Go modules, what the e2e node
# runs for one Kubernetes release, caches it by version, and prints where it
# is, one NAME=PATH line each:
#
#   newest  kubelet, kube-apiserver, kube-controller-manager, kube-scheduler,
#           kube-proxy, kubectl, etcd, coredns (hack/cluster) and containerd
#           2 with its runc shim and ctr (hack/containerd)
#   v1.34   kubelet (hack/kubelet); containerd is Debian's 1.6
#   oldest  kubelet (hack/kubelet-oldest); containerd is Debian's 1.6
#
# Each set is built once per version into $PODSEQ_E2E_CACHE
# (/var/cache/podseq-e2e); a failed build leaves nothing behind. Progress goes
# to stderr. Exit codes: 0 built or cached, 1 a build failed, 2 bad usage.
set -euo pipefail
cd "$(dirname "$0")/../.."
cache=${PODSEQ_E2E_CACHE:-/var/cache/podseq-e2e}
log() { echo "$(date -u +%T) e2e: $*" >&2; }
export CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS="${GOFLAGS:-} -buildvcs=false"

# modver MODULE_DIR MODULE: the version MODULE_DIR/go.mod requires of MODULE.
modver() {
  local v
  v=$(awk -v m="$2" '$1 == m && $2 ~ /^v/ {print $2; exit} $1 == "require" && $2 == m {print $3; exit}' "$1/go.mod")
  [ -n "$v" ] || { echo "e2e: no $2 version in $1/go.mod" >&2; exit 1; }
  echo "$v"
}

# build DEST VERSION_LDFLAGS MODULE_DIR PACKAGE...: go build into DEST
# (a directory) unless it exists; built into DEST.tmp, renamed when whole.
build() {
  local dest=$1 ldflags=$2 mod=$3
  shift 3
  [ -d "$dest" ] && return 0
  log "building $(basename "$dest") in $mod (cached in $cache)"
  rm -rf "$dest.tmp"
  mkdir -p "$dest.tmp"
  local began=$SECONDS
  if ! (cd "$mod" && go build -trimpath -ldflags "-s -w $ldflags" -o "$dest.tmp/" "$@"); then
    rm -rf "$dest.tmp"
    echo "e2e: building $(basename "$dest") failed" >&2
    exit 1
  fi
  mv "$dest.tmp" "$dest"
  log "built $(basename "$dest") in $((SECONDS - began)) s"
}

# k8sflags VERSION: the ldflags that make `kubelet --version` tell VERSION.
k8sflags() {
  local minor=${1#v*.}
  minor=${minor%%.*}
  echo "-X k8s.io/component-base/version.gitVersion=$1 -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor"
}

case "${1:-}" in
newest)
  k8s=$(modver hack/cluster k8s.io/kubernetes)
  dir=$cache/cluster-$k8s
  build "$dir" "$(k8sflags "$k8s")" hack/cluster \
    k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-apiserver \
    k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler \
    k8s.io/kubernetes/cmd/kube-proxy k8s.io/kubernetes/cmd/kubectl \
    go.etcd.io/etcd/server/v3 ./coredns
  ctrd=$(modver hack/containerd github.com/containerd/containerd/v2)
  cdir=$cache/containerd-$ctrd
  build "$cdir" "-X github.com/containerd/containerd/v2/version.Version=$ctrd" hack/containerd \
    github.com/containerd/containerd/v2/cmd/containerd \
    github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2 \
    github.com/containerd/containerd/v2/cmd/ctr
  echo "version=$k8s"
  for b in kubelet kube-apiserver kube-controller-manager kube-scheduler kube-proxy kubectl coredns; do
    echo "$b=$dir/$b"
  done
  echo "etcd=$dir/server" # go build names a /vN package after the element before it
  echo "containerd=$cdir/containerd"
  echo "ctr=$cdir/ctr"
  echo "shim-dir=$cdir"
  ;;
v1.34 | oldest)
  mod=hack/kubelet
  [ "$1" = oldest ] && mod=hack/kubelet-oldest
  k8s=$(modver "$mod" k8s.io/kubernetes)
  dir=$cache/kubelet-$k8s
  build "$dir" "$(k8sflags "$k8s")" "$mod" k8s.io/kubernetes/cmd/kubelet
  echo "version=$k8s"
  echo "kubelet=$dir/kubelet"
  echo "containerd=$(command -v containerd || echo containerd)"
  echo "ctr=$(command -v ctr || echo ctr)"
  echo "shim-dir="
  ;;
*)
  echo "usage: hack/e2e/components.sh newest|v1.34|oldest" >&2
  exit 2
  ;;
esac
