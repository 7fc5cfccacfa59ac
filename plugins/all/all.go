// Package all compiles in every built-in plugin. Each plugin registers itself
// in its init function; this file decides which are part of the binary.
package all

import (
	_ "github.com/engine-audit/engine/plugins/inputs/audit"           // input "audit"
	_ "github.com/engine-audit/engine/plugins/inputs/fim"             // input "fim"
	_ "github.com/engine-audit/engine/plugins/inputs/logfile"         // input "logfile"
	_ "github.com/engine-audit/engine/plugins/outputs/elasticsearch"  // output "elasticsearch"
	_ "github.com/engine-audit/engine/plugins/outputs/file"           // output "file"
	_ "github.com/engine-audit/engine/plugins/outputs/kafka"          // output "kafka"
	_ "github.com/engine-audit/engine/plugins/outputs/stdout"         // output "stdout"
	_ "github.com/engine-audit/engine/plugins/processors/coalesce"    // processor "coalesce"
	_ "github.com/engine-audit/engine/plugins/processors/docker"      // processor "docker"
	_ "github.com/engine-audit/engine/plugins/processors/file_actor"  // processor "file_actor"
	_ "github.com/engine-audit/engine/plugins/processors/hash"        // processor "hash"
	_ "github.com/engine-audit/engine/plugins/processors/host"        // processor "host"
	_ "github.com/engine-audit/engine/plugins/processors/resolve_ids" // processor "resolve_ids"
)
