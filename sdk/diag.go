package sdk

import (
	"errors"
	"fmt"
)

// FileError is an error at a place in a file that a plugin reads because its
// config names it (an audit rule file, say). The core reports it there, with
// a snippet of the file, as it reports errors in pipeline files.
type FileError struct {
	Path   string // as the config named it, or as the plugin resolved it
	Line   int    // 1-based; 0 when unknown
	Column int    // 1-based; 0 for the whole line
	Err    error
}

func (e *FileError) Error() string {
	switch {
	case e.Line > 0 && e.Column > 0:
		return fmt.Sprintf("%s:%d:%d: %v", e.Path, e.Line, e.Column, e.Err)
	case e.Line > 0:
		return fmt.Sprintf("%s:%d: %v", e.Path, e.Line, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.Path, e.Err)
}

func (e *FileError) Unwrap() error { return e.Err }

type warning struct{ err error }

func (w *warning) Error() string { return w.err.Error() }
func (w *warning) Unwrap() error { return w.err }

// Warning marks an error from Plugin.Validate as a warning: `engine
// validate` reports it but the pipeline stays valid (unless
// --deny-warnings). It may wrap an OptionError or a FileError.
func Warning(err error) error {
	if err == nil {
		return nil
	}
	return &warning{err: err}
}

// IsWarning reports whether err was marked with Warning.
func IsWarning(err error) bool {
	var w *warning
	return errors.As(err, &w)
}

// Errors flattens err into its leaves: errors.Join and any error with an
// Unwrap() []error method yield each of their errors. Plugin.Validate may
// return several problems joined this way; the core reports each.
func Errors(err error) []error {
	if err == nil {
		return nil
	}
	if m, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range m.Unwrap() {
			out = append(out, Errors(e)...)
		}
		return out
	}
	return []error{err}
}
