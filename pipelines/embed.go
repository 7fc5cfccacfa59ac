// Package pipelines holds the ready-to-run pipelines. The default one is
// compiled into engine: `engine run` with no pipeline runs it.
package pipelines

import _ "embed"

// Default is the pipeline `engine run` runs when given none.
//
//go:embed default.hcl
var Default []byte

// DefaultName is the file name the default pipeline's diagnostics show.
const DefaultName = "(built-in) default.hcl"
