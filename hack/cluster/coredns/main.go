// Command coredns is CoreDNS with only the plugins the e2e cluster's DNS
// needs: kubernetes (the cluster.local zone from the API server), errors,
// log, health, ready, cache and loadbalance. The full CoreDNS build links
// every cloud provider's SDK; this one builds from the same Go module in a
// fraction of the time.
package main

import (
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/ready"
)

func main() { coremain.Run() }
