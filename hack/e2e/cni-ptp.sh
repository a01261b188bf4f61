#!/bin/sh
# CNI plugin for the e2e cluster node (installed as both "ptp" and
# "loopback"): every non-hostNetwork pod gets eth0 with one address of
# 192.0.2.0/24 (TEST-NET-1), the other end of its veth in the node's network
# namespace with a /32 route to the pod, and a default route through
# 169.254.1.1, which the node's end answers by proxy ARP. Pods reach each
# other, the cluster DNS and Services (kube-proxy's rules) through the node
# namespace, which the harness made and which routes nothing out.
# Addresses are leased as directories under leases/ beside the plugin's bin/
# (mkdir is atomic), each holding the container ID; the instant ADD finished
# goes to stamps/NAMESPACE_POD there (the pod-IP scenario's "sandbox ready").
# Needs nsenter (util-linux) and ip (iproute2).
conf=$(cat)
ver=$(printf '%s' "$conf" | sed -n 's/.*"cniVersion"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p')
[ -n "$ver" ] || ver=0.4.0
top=$(dirname "$(dirname "$0")")
leases=$top/leases
stamps=$top/stamps
fail() { printf '{"cniVersion":"%s","code":11,"msg":"%s"}\n' "$ver" "$1"; exit 1; }
in_pod() { nsenter --net="$CNI_NETNS" "$@"; }
host_if=$(printf 'pv%s' "$CNI_CONTAINERID" | cut -c1-15)
case "$CNI_COMMAND" in
VERSION) echo '{"cniVersion":"0.4.0","supportedVersions":["0.3.0","0.3.1","0.4.0"]}'; exit 0 ;;
CHECK) exit 0 ;;
DEL)
  [ "$(basename "$0")" = loopback ] && exit 0
  for l in "$leases"/*; do
    [ -f "$l/id" ] && [ "$(cat "$l/id")" = "$CNI_CONTAINERID" ] && rm -rf "$l"
  done
  ip link del "$host_if" 2>/dev/null
  exit 0 ;;
ADD) ;;
*) printf '{"cniVersion":"%s","code":4,"msg":"unsupported command %s"}\n' "$ver" "$CNI_COMMAND"; exit 1 ;;
esac
if [ "$(basename "$0")" = loopback ]; then
  in_pod ip link set lo up || fail "lo up in $CNI_NETNS"
  printf '{"cniVersion":"%s","interfaces":[{"name":"lo","sandbox":"%s"}],"ips":[{"version":"4","address":"127.0.0.1/8","interface":0}],"dns":{}}\n' "$ver" "$CNI_NETNS"
  exit 0
fi
mkdir -p "$leases" "$stamps" || fail "mkdir $leases"
n=2
while ! mkdir "$leases/$n" 2>/dev/null; do
  n=$((n + 1))
  [ "$n" -le 254 ] || fail "no address left in 192.0.2.0/24"
done
echo "$CNI_CONTAINERID" >"$leases/$n/id"
addr="192.0.2.$n"
ip link add "$host_if" type veth peer name "$CNI_IFNAME" netns "$CNI_NETNS" || fail "veth $host_if"
in_pod ip addr add "$addr/32" dev "$CNI_IFNAME" || fail "address $addr"
in_pod ip link set "$CNI_IFNAME" up || fail "$CNI_IFNAME up"
in_pod ip route add 169.254.1.1 dev "$CNI_IFNAME" scope link || fail "gateway route"
in_pod ip route add default via 169.254.1.1 dev "$CNI_IFNAME" || fail "default route"
echo 1 >"/proc/sys/net/ipv4/conf/$host_if/proxy_arp" || fail "proxy_arp on $host_if"
ip link set "$host_if" up || fail "$host_if up"
ip route add "$addr/32" dev "$host_if" || fail "route to $addr"
# CNI_ARGS: K8S_POD_NAMESPACE=...;K8S_POD_NAME=...;...
ns=$(printf '%s' "$CNI_ARGS" | tr ';' '\n' | sed -n 's/^K8S_POD_NAMESPACE=//p')
pod=$(printf '%s' "$CNI_ARGS" | tr ';' '\n' | sed -n 's/^K8S_POD_NAME=//p')
[ -n "$pod" ] && date +%s%N >"$stamps/${ns}_$pod" # nanoseconds, as hack/e2e/cmd/stamp writes
printf '{"cniVersion":"%s","interfaces":[{"name":"%s","sandbox":"%s"}],"ips":[{"version":"4","address":"%s/32","interface":0}],"dns":{}}\n' "$ver" "$CNI_IFNAME" "$CNI_NETNS" "$addr"
