#!/usr/bin/env bash
# make e2e: podseq on a real kubelet and containerd built from Go modules (or
# Debian's containerd 1.6), runc, static pods; on the newest release also a
# control plane (etcd, API server, controllers, scheduler, kube-proxy,
# CoreDNS) around the node, and the cluster scenarios. No registry.
#
# Installs what it needs from Debian (once), builds the release's components
# (hack/e2e/components.sh, cached by version), podseq, its image tarball (no
# Docker) and the harness, then runs the harness (hack/e2e: package main and
# its internal/node, internal/cluster and internal/proc), which
# starts them, runs every scenario and tears everything down. Extra
# arguments go to the harness:
#   hack/e2e/run.sh -run 'order|timeout' -runs 7 -keep
#   hack/e2e/run.sh -bench        # also the timed comparisons (make e2e-bench)
#
# Env: PODSEQ_E2E_K8S (newest) the Kubernetes release: newest (v1.37, with
#      containerd 2.4 and the control plane), v1.34 or oldest (v1.27), both
#      static pods on Debian's containerd; PODSEQ_E2E_CLUSTER=0 runs newest
#      without the control plane; PODSEQ_E2E_CACHE (/var/cache/podseq-e2e)
#      keeps the builds and the harness binaries; PODSEQ_E2E_DIR
#      (/tmp/podseq-e2e) is the node's working directory, wiped at every start.
# Needs: root, Debian/Ubuntu (apt), Go, network for apt and the Go module proxy
#        on a cold run. See docs/e2e.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
cache=${PODSEQ_E2E_CACHE:-/var/cache/podseq-e2e}
dir=${PODSEQ_E2E_DIR:-/tmp/podseq-e2e}
log() { echo "$(date -u +%T) e2e: $*" >&2; }
began=$(date +%s)

if [ "$(id -u)" != 0 ]; then
  echo "e2e: must run as root (it starts containerd and a kubelet); try: sudo -E make e2e" >&2
  exit 2
fi
export CGO_ENABLED=0 GOFLAGS="${GOFLAGS:-} -buildvcs=false"

# --- Debian packages, installed once
pkgs=(containerd runc busybox-static iproute2 util-linux nftables)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- the release's kubelet and containerd, cached by version (the kubelet
# alone takes about 7 min on 2 cores with a cold Go cache; newest builds every
# Kubernetes component and containerd: about 25 min)
release=${PODSEQ_E2E_K8S:-newest}
log "Kubernetes release $release"
components=$(hack/e2e/components.sh "$release")
declare -A component=()
while IFS='=' read -r name path; do
  component[$name]=$path
done <<<"$components"
for name in kubelet containerd ctr; do
  [ -n "${component[$name]:-}" ] || { echo "e2e: components.sh $release printed no $name" >&2; exit 1; }
done

# --- podseq, its image, the harness and its tools
log "make build image-tar"
make --no-print-directory build image-tar >/dev/null
arch=$(go env GOARCH)
image=$repo/bin/podseq-image-$arch.tar
bin=$cache/bin
mkdir -p "$bin"
(cd hack && go build -trimpath -o "$bin/" ./e2e ./e2e/cmd/stamp ./e2e/cmd/svc ./e2e/cmd/pause ./mkimage)
# The benchmark pleg-gate (-bench, or a -run that may name it) runs the
# newest kubelet again as if its PLEGOnDemandRelist gate were off: a build
# of its own, cached by version (hack/e2e/kubelet-pleg-off.sh; a few
# minutes cold, nothing warm).
bench=false
for a in "$@"; do
  case $a in -bench | --bench | -bench=true | --bench=true | -run | --run | -run=* | --run=*) bench=true ;; esac
done
if $bench && [ "$release" = newest ] && [ -z "${PODSEQ_E2E_KUBELET_PLEG_OFF:-}" ]; then
  PODSEQ_E2E_KUBELET_PLEG_OFF=$(hack/e2e/kubelet-pleg-off.sh)
  export PODSEQ_E2E_KUBELET_PLEG_OFF
fi
log "ready to start after $(( $(date +%s) - began )) s"

# The harness tears down on its own (also on SIGINT/SIGTERM); this catches
# the case where it is killed outright. Cleanup only acts on the PIDs the
# harness recorded, and is a no-op when nothing is left. With -keep the node
# is left up, as asked.
keep=false
for a in "$@"; do
  case $a in -keep | --keep | -keep=true | --keep=true) keep=true ;; esac
done
$keep || trap '"$bin/e2e" -dir "$dir" -cleanup || true' EXIT
rc=0
# newest also runs the control plane around the node and the cluster
# scenarios (PODSEQ_E2E_CLUSTER=0: the static-pod node alone).
cluster=()
if [ "$release" = newest ] && [ "${PODSEQ_E2E_CLUSTER:-1}" != 0 ]; then
  printf '%s\n' "$components" >"$bin/components-$release.env"
  cluster=(-cluster "$bin/components-$release.env")
fi
"$bin/e2e" -repo "$repo" -dir "$dir" -kubelet "${component[kubelet]}" -containerd "${component[containerd]}" \
  -ctr "${component[ctr]}" -shim-dir "${component[shim-dir]:-}" -release "$release" \
  -tools "$bin" -mkimage "$bin/mkimage" -podseq-image "$image" "${cluster[@]}" "$@" || rc=$?
log "done in $(( $(date +%s) - began )) s (exit $rc)"
exit $rc
