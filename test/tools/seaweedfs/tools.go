//go:build tools

// Package tools pins github.com/seaweedfs/seaweedfs so that `go build github.com/seaweedfs/seaweedfs/weed`
// resolves in this module. `go install MODULE@VERSION` refuses it: its go.mod has a replace directive,
// copied below into this module's go.mod.
package tools

import _ "github.com/seaweedfs/seaweedfs/weed"
