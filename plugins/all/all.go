// Package all compiles in every built-in plugin. Each plugin registers itself
// in its init function; this file decides which are part of the binary.
package all
