package main

import "github.com/spf13/cobra"

// newPluginsCmd is a placeholder until the command is implemented.
func newPluginsCmd() *cobra.Command {
	return &cobra.Command{Use: "plugins", Short: "not implemented yet"}
}
