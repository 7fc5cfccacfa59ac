package main

import (
	"strings"

	"github.com/spf13/cobra"
)

// acceptSingleDashLongFlags rewrites long flags written with one dash, the
// way Terraform and Go tools spell them (-json, -check, -var=x=1), into the
// double-dash form cobra parses. Only names that are long flags of the
// command being run are rewritten, so shorthand groups such as -h keep
// their meaning. Arguments after "--" are left alone.
func acceptSingleDashLongFlags(root *cobra.Command, args []string) []string {
	cmd, _, err := root.Find(args)
	if err != nil || cmd == nil {
		return args
	}
	out := make([]string, len(args))
	copy(out, args)
	for i, a := range out {
		if a == "--" {
			break
		}
		if len(a) < 3 || a[0] != '-' || a[1] == '-' {
			continue
		}
		name, _, _ := strings.Cut(a[1:], "=")
		if len(name) < 2 {
			continue
		}
		if cmd.Flags().Lookup(name) != nil || cmd.InheritedFlags().Lookup(name) != nil {
			out[i] = "-" + a
		}
	}
	return out
}
