package main

import "github.com/spf13/cobra"

// newFmtCmd is a placeholder until the command is implemented.
func newFmtCmd() *cobra.Command {
	return &cobra.Command{Use: "fmt", Short: "not implemented yet"}
}
