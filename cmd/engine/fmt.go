package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/pmezard/go-difflib/difflib"
	"github.com/spf13/cobra"

	"github.com/engine-audit/engine/core/config"
)

func newFmtCmd() *cobra.Command {
	var check, diff, noColor bool
	cmd := &cobra.Command{
		Use:   "fmt [flags] PATH...",
		Short: "Rewrite pipeline files in the canonical format",
		Long: `Fmt rewrites the given HCL files, and every *.hcl file in the given directories,
in the canonical layout: indentation, aligned equals signs, spacing. It changes
layout only, never meaning, and prints the name of each file it changed.

With -check it changes nothing: it lists the files that are not formatted and
exits 1 if there are any, for use in CI. With -diff it also prints the changes
as a unified diff. A file with syntax errors is reported and left alone, and
the command exits 1. "-" formats standard input to standard output.`,
		Example: `  engine fmt pipelines/
  engine fmt -check -diff ./my-pipeline/`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return &exitError{code: exitUsage, err: errors.New("give the pipeline files or directories to format, e.g. 'engine fmt pipelines/'")}
			}
			stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
			color := !noColor && os.Getenv("NO_COLOR") == "" && stderrIsTerminal()
			failed := false
			for _, arg := range args {
				if arg == "-" {
					ok, err := formatStream(cmd.InOrStdin(), stdout, stderr, check, diff, color)
					if err != nil {
						return &exitError{code: exitFailure, err: err}
					}
					failed = failed || !ok
					continue
				}
				if err := checkPaths([]string{arg}); err != nil {
					return err
				}
				files, diags := config.ExpandPaths([]string{arg})
				if len(diags) > 0 {
					_ = config.WriteText(stderr, nil, diags, color)
					failed = true
				}
				for _, f := range files {
					ok, err := formatFile(f, stdout, stderr, check, diff, color)
					if err != nil {
						return &exitError{code: exitFailure, err: err}
					}
					failed = failed || !ok
				}
			}
			if failed {
				return &exitError{code: exitFailure}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&check, "check", false, "change nothing; list the files that are not formatted and exit 1 if there are any")
	f.BoolVar(&diff, "diff", false, "print the changes as a unified diff")
	f.BoolVar(&noColor, "no-color", false, "never color diagnostics")
	return cmd
}

// formatSource parses src, reporting syntax errors, and returns its
// canonical form.
func formatSource(name string, src []byte, stderr io.Writer, color bool) ([]byte, bool) {
	f, diags := hclsyntax.ParseConfig(src, name, hcl.InitialPos)
	if diags.HasErrors() {
		_ = config.WriteText(stderr, map[string]*hcl.File{name: f}, diags, color)
		return nil, false
	}
	return hclwrite.Format(src), true
}

// formatFile formats one file. It returns false when the file has syntax
// errors or, with check, is not formatted.
func formatFile(name string, stdout, stderr io.Writer, check, diff, color bool) (bool, error) {
	src, err := os.ReadFile(name)
	if err != nil {
		return false, err
	}
	out, ok := formatSource(name, src, stderr, color)
	if !ok {
		return false, nil
	}
	if bytes.Equal(src, out) {
		return true, nil
	}
	fmt.Fprintln(stdout, name)
	if diff {
		if err := writeDiff(stdout, name, src, out); err != nil {
			return false, err
		}
	}
	if check {
		return false, nil
	}
	return true, writeFileAtomic(name, out)
}

// formatStream formats standard input to standard output.
func formatStream(in io.Reader, stdout, stderr io.Writer, check, diff, color bool) (bool, error) {
	src, err := io.ReadAll(in)
	if err != nil {
		return false, err
	}
	out, ok := formatSource("<stdin>", src, stderr, color)
	if !ok {
		return false, nil
	}
	changed := !bytes.Equal(src, out)
	switch {
	case diff:
		if changed {
			return !check, writeDiff(stdout, "<stdin>", src, out)
		}
		return true, nil
	case check:
		return !changed, nil
	}
	_, err = stdout.Write(out)
	return true, err
}

func writeDiff(w io.Writer, name string, before, after []byte) error {
	return difflib.WriteUnifiedDiff(w, difflib.UnifiedDiff{
		A:        difflib.SplitLines(string(before)),
		B:        difflib.SplitLines(string(after)),
		FromFile: name,
		ToFile:   name + " (formatted)",
		Context:  3,
	})
}

// writeFileAtomic replaces a file's content without ever leaving it half
// written, keeping its permissions.
func writeFileAtomic(name string, data []byte) error {
	st, err := os.Stat(name)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(st.Mode().Perm()); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), name)
}
