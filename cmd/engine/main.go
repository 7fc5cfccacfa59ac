// Command engine runs and checks audit-event pipelines.
package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	_ "github.com/engine-audit/engine/plugins/all" // built-in plugins
)

// exitError carries a process exit code out of a command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

// Exit codes shared by every command.
const (
	exitOK      = 0
	exitFailure = 1 // the command ran and found a problem (invalid pipeline, runtime error)
	exitUsage   = 2 // the command line itself was wrong
)

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "engine",
		Short: "Audit-event pipeline for Linux: collect, coalesce, enrich and ship security events",
		Long: `engine collects security events (kernel audit, eBPF, file integrity, log files),
turns them into clean ECS documents and ships them to Elasticsearch, Kafka or files.
Pipelines are described in HCL; see 'engine plugins' for every component and option.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return &exitError{code: exitUsage, err: fmt.Errorf("%w\nRun '%s --help' for usage.", err, cmd.CommandPath())}
	})
	root.AddCommand(
		newRunCmd(),
		newValidateCmd(),
		newFmtCmd(),
		newPluginsCmd(),
		newVersionCmd(),
	)
	return root
}

func main() {
	os.Exit(execute(os.Args[1:]))
}

func execute(args []string) int {
	root := newRootCmd()
	root.SetArgs(acceptSingleDashLongFlags(root, args))
	err := root.Execute()
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintln(os.Stderr, "engine:", ee.err)
		}
		return ee.code
	}
	fmt.Fprintln(os.Stderr, "engine:", err)
	// Cobra reports unknown commands and bad arguments as plain errors.
	if isUsageError(err) {
		return exitUsage
	}
	return exitFailure
}

// isUsageError recognises the errors cobra returns for a malformed command
// line (unknown command, wrong number of arguments).
func isUsageError(err error) bool {
	msg := err.Error()
	for _, s := range []string{"unknown command", "unknown flag", "unknown shorthand flag", "arg(s)", "flag needs an argument", "invalid argument"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}
