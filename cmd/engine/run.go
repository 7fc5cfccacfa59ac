package main

import "github.com/spf13/cobra"

// newRunCmd is a placeholder until the command is implemented.
func newRunCmd() *cobra.Command {
	return &cobra.Command{Use: "run", Short: "not implemented yet"}
}
