// Command pause is the node's sandbox image: it holds a pod's namespaces open and exits on SIGTERM or
// SIGINT. No registry is reachable to pull registry.k8s.io/pause, so the cluster harness builds it.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	<-signals
}
