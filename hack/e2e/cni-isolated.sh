#!/bin/sh
# CNI plugin for the e2e node (installed as both "isolated" and "loopback"):
# every non-hostNetwork pod gets a network namespace of its own with lo up and
# an eth0 whose veth peer also stays inside the pod. Nothing connects the pod
# to the host or to other pods, so no test traffic can leave it. The pod's
# address, 192.0.2.N/32 (TEST-NET-1), exists only inside the pod.
# Needs nsenter (util-linux) and ip (iproute2).
conf=$(cat)
ver=$(printf '%s' "$conf" | sed -n 's/.*"cniVersion"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p')
[ -n "$ver" ] || ver=0.4.0
case "$CNI_COMMAND" in
VERSION) echo '{"cniVersion":"0.4.0","supportedVersions":["0.3.0","0.3.1","0.4.0"]}'; exit 0 ;;
DEL|CHECK) exit 0 ;; # the netns, and the veth pair in it, go away with the sandbox
ADD) ;;
*) printf '{"cniVersion":"%s","code":4,"msg":"unsupported command %s"}\n' "$ver" "$CNI_COMMAND"; exit 1 ;;
esac
in_pod() { nsenter --net="$CNI_NETNS" "$@"; }
fail() { printf '{"cniVersion":"%s","code":11,"msg":"%s"}\n' "$ver" "$1"; exit 1; }
if [ "$(basename "$0")" = loopback ]; then
  in_pod ip link set lo up || fail "lo up in $CNI_NETNS"
  printf '{"cniVersion":"%s","interfaces":[{"name":"lo","sandbox":"%s"}],"ips":[{"version":"4","address":"127.0.0.1/8","interface":0}],"dns":{}}\n' "$ver" "$CNI_NETNS"
  exit 0
fi
n=$(( $(printf '%s' "$CNI_CONTAINERID" | cksum | cut -d' ' -f1) % 250 + 2 ))
addr="192.0.2.$n"
in_pod ip link add "$CNI_IFNAME" type veth peer name "${CNI_IFNAME}p" || fail "veth in $CNI_NETNS"
in_pod ip addr add "$addr/32" dev "$CNI_IFNAME" || fail "address $addr"
in_pod ip link set "${CNI_IFNAME}p" up || fail "${CNI_IFNAME}p up"
in_pod ip link set "$CNI_IFNAME" up || fail "$CNI_IFNAME up"
printf '{"cniVersion":"%s","interfaces":[{"name":"%s","sandbox":"%s"}],"ips":[{"version":"4","address":"%s/32","interface":0}],"dns":{}}\n' "$ver" "$CNI_IFNAME" "$CNI_NETNS" "$addr"
