package main

import "github.com/spf13/cobra"

// newValidateCmd is a placeholder until the command is implemented.
func newValidateCmd() *cobra.Command {
	return &cobra.Command{Use: "validate", Short: "not implemented yet"}
}
