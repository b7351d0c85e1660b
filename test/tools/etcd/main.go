// Command etcd is the etcd server built from its Go module, so tests get etcd 3.6
// on machines whose distribution ships an older one.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
