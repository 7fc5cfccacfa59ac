package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// FileExtension is the extension of pipeline files picked up from a
// directory.
const FileExtension = ".hcl"

// ExpandPaths turns the files and directories given on a command line into
// the list of pipeline files they name: a file as given, a directory as
// every *.hcl file directly in it, in name order. A file named twice is kept
// once. Paths that cannot be read are reported as diagnostics.
func ExpandPaths(paths []string) ([]string, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	var out []string
	seen := map[string]bool{}
	add := func(p string) {
		key := filepath.Clean(p)
		if abs, err := filepath.Abs(p); err == nil {
			key = abs
		}
		if !seen[key] {
			seen[key] = true
			out = append(out, p)
		}
	}
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Cannot read pipeline path",
				Detail:   fmt.Sprintf("%s. Give the path of an existing pipeline file or of a directory of %s files.", describeOSError(err), FileExtension),
			})
			continue
		}
		if !st.IsDir() {
			add(p)
			continue
		}
		entries, err := os.ReadDir(p)
		if err != nil {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Cannot read pipeline directory",
				Detail:   describeOSError(err) + ".",
			})
			continue
		}
		var names []string
		for _, e := range entries {
			if e.IsDir() || !strings.HasSuffix(e.Name(), FileExtension) || strings.HasPrefix(e.Name(), ".") {
				continue
			}
			names = append(names, e.Name())
		}
		sort.Strings(names)
		if len(names) == 0 {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "No pipeline files in directory",
				Detail:   fmt.Sprintf("The directory %s holds no %s files. Pipeline files must end in %s.", p, FileExtension, FileExtension),
			})
		}
		for _, n := range names {
			add(filepath.Join(p, n))
		}
	}
	return out, diags
}

// readPaths reads the files named by paths.
func readPaths(paths []string) ([]source, hcl.Diagnostics) {
	files, diags := ExpandPaths(paths)
	srcs := make([]source, 0, len(files))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Cannot read pipeline file",
				Detail:   describeOSError(err) + ".",
			})
			continue
		}
		srcs = append(srcs, source{name: f, data: data})
	}
	return srcs, diags
}

// describeOSError renders a filesystem error as "path: reason".
func describeOSError(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Sprintf("%s: %s", pe.Path, pe.Err)
	}
	return err.Error()
}
