package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/spf13/cobra"

	"github.com/engine-audit/engine/core/config"
)

func newValidateCmd() *cobra.Command {
	var (
		vars         []string
		jsonOut      bool
		noColor      bool
		denyWarnings bool
		goos         string
		checkConns   bool
		connTimeout  time.Duration
	)
	cmd := &cobra.Command{
		Use:   "validate [flags] PATH...",
		Short: "Check pipeline files without running them",
		Long: `Validate loads the pipeline in the given HCL files and directories (every
*.hcl file in a directory) and checks everything that can be checked without
running it: syntax, block and option names, types, required options, allowed
values, durations and sizes, regular expressions and globs, references between
components, cycles, variables and functions, and platform support. Nothing is
opened, connected to or written.

Each problem is reported with its file, line and column and a snippet of the
source. Exit status: 0 when the pipeline is valid (warnings allowed unless
--deny-warnings), 1 when it is not, 2 when the command line is wrong.

With --check-connections, validate also reaches the destination of each
output that can be checked (Elasticsearch, Kafka) once, with the pipeline's
addresses, credentials and TLS settings, and reports any it cannot reach as an
error at that output's block. No data is sent.`,
		Example: `  engine validate pipelines/replay.hcl
  engine validate --var region=eu ./my-pipeline/
  engine validate -json ./my-pipeline/ > report.json
  engine validate --check-connections /etc/engine/pipeline.hcl`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return &exitError{code: exitUsage, err: errors.New("give the pipeline files or directories to check, e.g. 'engine validate pipelines/replay.hcl'")}
			}
			if err := checkPaths(args); err != nil {
				return err
			}
			varMap, err := parseVars(vars)
			if err != nil {
				return err
			}
			p, diags := config.Load(args, config.LoadOptions{Vars: varMap, GOOS: goos})
			var reached []string
			if checkConns && !diags.HasErrors() {
				var connDiags hcl.Diagnostics
				reached, connDiags = checkConnections(cmd.Context(), p, connTimeout)
				diags = append(diags, connDiags...)
			}
			errs, warns := countDiagnostics(diags)
			failed := errs > 0 || (denyWarnings && warns > 0)

			stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
			if jsonOut {
				report := config.NewJSONReport(p.Files, diags)
				report.Valid = !failed
				if err := report.Write(stdout); err != nil {
					return &exitError{code: exitFailure, err: err}
				}
			} else {
				color := !noColor && os.Getenv("NO_COLOR") == "" && stderrIsTerminal()
				if err := config.WriteText(stderr, p.Files, diags, color); err != nil {
					return &exitError{code: exitFailure, err: err}
				}
				switch {
				case errs > 0:
					fmt.Fprintf(stderr, "Pipeline is invalid: %s, %s.\n", plural(errs, "error"), plural(warns, "warning"))
				case failed:
					fmt.Fprintf(stderr, "Pipeline has %s, and --deny-warnings makes them fail the check.\n", plural(warns, "warning"))
				default:
					in, proc, out := p.Counts()
					line := fmt.Sprintf("Pipeline is valid: %s, %s, %s", plural(in, "input"), plural(proc, "processor"), plural(out, "output"))
					if warns > 0 {
						line += fmt.Sprintf(" (%s)", plural(warns, "warning"))
					}
					fmt.Fprintln(stdout, line+".")
					for _, id := range reached {
						fmt.Fprintf(stdout, "Reached the destination of %s.\n", id)
					}
				}
			}
			if failed {
				return &exitError{code: exitFailure}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&vars, "var", nil, "set a pipeline variable, as `name=value` (repeatable; overrides ENGINE_VAR_name and defaults)")
	f.BoolVar(&jsonOut, "json", false, "print the result as JSON (the shape of 'terraform validate -json') on stdout")
	f.BoolVar(&noColor, "no-color", false, "never color the text output (it is colored only on a terminal, and not when NO_COLOR is set)")
	f.BoolVar(&denyWarnings, "deny-warnings", false, "fail (exit 1) when there are warnings")
	f.BoolVar(&checkConns, "check-connections", false, "also connect to each output's destination once (no data is sent) and report the ones that cannot be reached")
	f.DurationVar(&connTimeout, "connect-timeout", 10*time.Second, "how long --check-connections waits for each destination")
	f.StringVar(&goos, "goos", "", "check plugin availability for this operating system, such as linux (default: the one engine runs on)")
	return cmd
}

// checkConnections runs the connection check of every component whose
// plugin has one, all at once, and returns the IDs reached and a
// diagnostic for each one that was not.
func checkConnections(ctx context.Context, p *config.Pipeline, timeout time.Duration) ([]string, hcl.Diagnostics) {
	if ctx == nil {
		ctx = context.Background()
	}
	type result struct {
		c   *config.Component
		err error
	}
	var checks []*config.Component
	for _, c := range p.Components {
		if c.Plugin != nil && c.Plugin.CheckConnection != nil {
			checks = append(checks, c)
		}
	}
	results := make([]result, len(checks))
	var wg sync.WaitGroup
	for i, c := range checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			err := func() (err error) {
				defer func() {
					if r := recover(); r != nil {
						err = fmt.Errorf("the plugin's connection check panicked: %v; this is a bug in the plugin", r)
					}
				}()
				return c.Plugin.CheckConnection(cctx, c.Config)
			}()
			if err == nil && cctx.Err() != nil {
				err = cctx.Err()
			}
			results[i] = result{c: c, err: err}
		}()
	}
	wg.Wait()
	var reached []string
	var diags hcl.Diagnostics
	for _, r := range results {
		if r.err == nil {
			reached = append(reached, r.c.ID)
			continue
		}
		detail := fmt.Sprintf("%s: %s", r.c.ID, r.err.Error())
		if !strings.HasSuffix(detail, ".") && !strings.HasSuffix(detail, "?") {
			detail += "."
		}
		if errors.Is(r.err, context.DeadlineExceeded) {
			detail += fmt.Sprintf(" No answer within %s (--connect-timeout): check the address, and that a firewall lets engine through.", timeout)
		}
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  fmt.Sprintf("Cannot reach the destination of %s", r.c.ID),
			Detail:   detail,
			Subject:  r.c.DeclRange.Ptr(),
		})
	}
	return reached, diags
}

// countDiagnostics counts errors and warnings.
func countDiagnostics(diags hcl.Diagnostics) (errs, warns int) {
	for _, d := range diags {
		switch d.Severity {
		case hcl.DiagError:
			errs++
		case hcl.DiagWarning:
			warns++
		}
	}
	return errs, warns
}

// plural renders "1 input", "2 inputs", "0 inputs".
func plural(n int, noun string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", noun)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
