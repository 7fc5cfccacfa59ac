package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/engine-audit/engine/core/agent"
	"github.com/engine-audit/engine/core/config"
	"github.com/engine-audit/engine/pipelines"
)

func newRunCmd() *cobra.Command {
	var (
		vars            []string
		stateDir        string
		httpAddress     string
		shutdownTimeout time.Duration
		logLevel        string
		logFormat       string
		once            bool
		printDefault    bool
	)
	cmd := &cobra.Command{
		Use:   "run [flags] [PATH...]",
		Short: "Run a pipeline until interrupted",
		Long: `Run loads the pipeline in the given HCL files and directories and runs it.
With no path, it runs the built-in default pipeline (see --print-default):
kernel audit records under a standard rule set, coalesced into ECS events in
/var/lib/engine/events/audit.ndjson. It needs root, as it takes the kernel's
audit PID like auditd.

SIGTERM or SIGINT drains the events in flight (within the shutdown timeout) and
exits. A second signal gives up the drain but still closes every component, so
that the kernel's audit rules and settings are put back (events in flight are
read again from inputs that can replay, or kept by a disk buffer); a third
exits at once. SIGHUP re-reads the pipeline files: a
valid pipeline replaces the running one after it drained, an invalid one is
reported and the running pipeline continues. When every input has finished by
itself (its source is exhausted, or --once and everything available was
read), engine exits once everything was delivered.`,
		Example: `  sudo engine run                      # the built-in default pipeline
  engine run --print-default > mine.hcl
  engine run pipelines/replay.hcl
  engine run --once --var audit_log=./audit.log pipelines/replay.hcl
  engine run --state-dir ./state --http-address 127.0.0.1:9464 ./my-pipeline/`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if printDefault {
				_, err := os.Stdout.Write(pipelines.Default)
				return err
			}
			if len(args) == 0 && os.Geteuid() != 0 {
				return &exitError{code: exitUsage, err: errors.New("with no pipeline, engine runs its default pipeline, which reads the kernel's audit records and needs root: run 'sudo engine run', or give a pipeline to run, e.g. 'engine run pipelines/replay.hcl'")}
			}
			if err := checkPaths(args); err != nil {
				return err
			}
			varMap, err := parseVars(vars)
			if err != nil {
				return err
			}
			level := new(slog.LevelVar)
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return &exitError{code: exitUsage, err: fmt.Errorf("--log-level %q: use debug, info, warn or error", logLevel)}
			}
			logger, err := newLogger(logFormat, level)
			if err != nil {
				return err
			}
			opts := agent.Options{
				Paths:           args,
				Sources:         map[string][]byte{pipelines.DefaultName: pipelines.Default},
				Load:            config.LoadOptions{Vars: varMap},
				StateDir:        stateDir,
				ShutdownTimeout: shutdownTimeout,
				LogLevelSet:     cmd.Flags().Changed("log-level"),
				Once:            once,
				Logger:          logger,
				LogLevel:        level,
			}
			if cmd.Flags().Changed("http-address") {
				opts.HTTPAddress = &httpAddress
			}
			return runAgent(opts)
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&vars, "var", nil, "set a pipeline variable, as `name=value` (repeatable; overrides ENGINE_VAR_name and defaults)")
	f.StringVar(&stateDir, "state-dir", "", "directory for checkpoints and buffers (default: engine.state_dir, else /var/lib/engine as root or ~/.local/state/engine)")
	f.StringVar(&httpAddress, "http-address", "", "address for /metrics and /healthz, e.g. 127.0.0.1:9464 (default: engine.http_address; empty turns it off)")
	f.DurationVar(&shutdownTimeout, "shutdown-timeout", 0, "how long to drain events in flight on SIGTERM (default: engine.shutdown_timeout, else 30s)")
	f.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error (default: engine.log_level, else info)")
	f.StringVar(&logFormat, "log-format", "text", "log format on stderr: text or json")
	f.BoolVar(&printDefault, "print-default", false, "print the built-in default pipeline (what 'engine run' runs with no path) and exit")
	f.BoolVar(&once, "once", false, "read what the inputs' sources hold now (e.g. a whole log file), deliver it, and exit instead of waiting for more")
	return cmd
}

func newLogger(format string, level *slog.LevelVar) (*slog.Logger, error) {
	opts := &slog.HandlerOptions{Level: level}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return nil, &exitError{code: exitUsage, err: fmt.Errorf("--log-format %q: use text or json", format)}
}

// parseVars turns repeated --var name=value flags into a map.
func parseVars(vars []string) (map[string]string, error) {
	out := map[string]string{}
	for _, v := range vars {
		name, value, ok := strings.Cut(v, "=")
		if !ok || name == "" {
			return nil, &exitError{code: exitUsage, err: fmt.Errorf("--var %q: write it as name=value", v)}
		}
		out[name] = value
	}
	return out, nil
}

// checkPaths reports a usage error for paths that do not exist.
func checkPaths(paths []string) error {
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			return &exitError{code: exitUsage, err: fmt.Errorf("pipeline path %s: %w", p, err)}
		}
	}
	return nil
}

// runAgent runs the agent with signal handling: SIGTERM/SIGINT drain and
// exit, a second one abandons the drain but still closes the components, a
// third exits at once, SIGHUP reloads.
func runAgent(opts agent.Options) error {
	ag := agent.New(opts)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sigs)
	reload := make(chan struct{}, 1)
	go func() {
		stops := 0
		for s := range sigs {
			if s == syscall.SIGHUP {
				select {
				case reload <- struct{}{}:
				default:
				}
				continue
			}
			stops++
			switch stops {
			case 1:
				opts.Logger.Info("signal received", "signal", s.String())
				cancel()
			case 2:
				opts.Logger.Warn("second signal: giving up the drain; closing the components (a third signal exits at once)", "signal", s.String())
				ag.Abandon()
			default:
				opts.Logger.Error("third signal: exiting at once, without closing the components", "signal", s.String())
				os.Exit(exitFailure)
			}
		}
	}()
	err := ag.Run(ctx, reload)
	var de *agent.DiagnosticsError
	if errors.As(err, &de) {
		_ = config.WriteText(os.Stderr, de.Files, de.Diags, stderrIsTerminal())
		return &exitError{code: exitFailure}
	}
	if err != nil {
		return &exitError{code: exitFailure, err: err}
	}
	return nil
}

// stderrIsTerminal reports whether diagnostics on stderr can use color.
func stderrIsTerminal() bool {
	fi, err := os.Stderr.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
