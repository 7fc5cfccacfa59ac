package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2/ext/tryfunc"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

// maxFileSize bounds what file() reads: pipeline files embed certificates,
// rule sets and the like, not data.
const maxFileSize = 16 << 20

// functions returns the functions available in a file's expressions. file()
// is bound to the directory of that file.
func (l *loader) functions(filename string) map[string]function.Function {
	dir := filepath.Dir(filename)
	if fns, ok := l.funcs[dir]; ok {
		return fns
	}
	fns := map[string]function.Function{
		"env":  envFunc(l.env),
		"file": fileFunc(dir),
	}
	for name, fn := range stdlibFunctions {
		fns[name] = fn
	}
	l.funcs[dir] = fns
	return fns
}

// FunctionNames lists the functions a pipeline can call, sorted.
func FunctionNames() []string {
	names := []string{"env", "file"}
	for name := range stdlibFunctions {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// stdlibFunctions are the general-purpose functions from cty's standard
// library, under the names Terraform users know.
var stdlibFunctions = map[string]function.Function{
	// numbers
	"abs": stdlib.AbsoluteFunc, "ceil": stdlib.CeilFunc, "floor": stdlib.FloorFunc,
	"max": stdlib.MaxFunc, "min": stdlib.MinFunc, "parseint": stdlib.ParseIntFunc,
	"pow": stdlib.PowFunc, "signum": stdlib.SignumFunc, "log": stdlib.LogFunc,
	// strings
	"chomp": stdlib.ChompFunc, "format": stdlib.FormatFunc, "formatlist": stdlib.FormatListFunc,
	"indent": stdlib.IndentFunc, "join": stdlib.JoinFunc, "lower": stdlib.LowerFunc,
	"upper": stdlib.UpperFunc, "regex": stdlib.RegexFunc, "regexall": stdlib.RegexAllFunc,
	"regex_replace": stdlib.RegexReplaceFunc, "replace": stdlib.ReplaceFunc,
	"split": stdlib.SplitFunc, "strlen": stdlib.StrlenFunc, "strrev": stdlib.ReverseFunc,
	"substr": stdlib.SubstrFunc, "title": stdlib.TitleFunc, "trim": stdlib.TrimFunc,
	"trimprefix": stdlib.TrimPrefixFunc, "trimsuffix": stdlib.TrimSuffixFunc,
	"trimspace": stdlib.TrimSpaceFunc,
	// collections
	"coalesce": stdlib.CoalesceFunc, "coalescelist": stdlib.CoalesceListFunc,
	"compact": stdlib.CompactFunc, "concat": stdlib.ConcatFunc, "contains": stdlib.ContainsFunc,
	"distinct": stdlib.DistinctFunc, "element": stdlib.ElementFunc, "flatten": stdlib.FlattenFunc,
	"keys": stdlib.KeysFunc, "length": lengthFunc, "lookup": stdlib.LookupFunc,
	"merge": stdlib.MergeFunc, "range": stdlib.RangeFunc, "reverse": stdlib.ReverseListFunc,
	"slice": stdlib.SliceFunc, "sort": stdlib.SortFunc, "values": stdlib.ValuesFunc,
	"zipmap": stdlib.ZipmapFunc, "chunklist": stdlib.ChunklistFunc,
	"setunion": stdlib.SetUnionFunc, "setintersection": stdlib.SetIntersectionFunc,
	"setsubtract": stdlib.SetSubtractFunc,
	// encodings and conversions
	"jsonencode": stdlib.JSONEncodeFunc, "jsondecode": stdlib.JSONDecodeFunc,
	"csvdecode": stdlib.CSVDecodeFunc,
	"tostring":  stdlib.MakeToFunc(cty.String), "tonumber": stdlib.MakeToFunc(cty.Number),
	"tobool": stdlib.MakeToFunc(cty.Bool), "tolist": stdlib.MakeToFunc(cty.List(cty.DynamicPseudoType)),
	"toset": stdlib.MakeToFunc(cty.Set(cty.DynamicPseudoType)), "tomap": stdlib.MakeToFunc(cty.Map(cty.DynamicPseudoType)),
	// error handling
	"try": tryfunc.TryFunc, "can": tryfunc.CanFunc,
}

// envFunc implements env(name) and env(name, default). An unset variable
// without a default is an error, so that a forgotten export fails the
// validation instead of yielding an empty setting.
func envFunc(env map[string]string) function.Function {
	return function.New(&function.Spec{
		Description: "Returns the value of an environment variable, or the default if it is unset.",
		Params:      []function.Parameter{{Name: "name", Type: cty.String}},
		VarParam:    &function.Parameter{Name: "default", Type: cty.String},
		Type:        function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			if len(args) > 2 {
				return cty.NilVal, function.NewArgErrorf(2, "env takes a name and at most one default, such as env(\"HOME\", \"/root\")")
			}
			name := args[0].AsString()
			if v, ok := env[name]; ok {
				return cty.StringVal(v), nil
			}
			if len(args) == 2 {
				return args[1], nil
			}
			return cty.NilVal, function.NewArgErrorf(0, "the environment variable %s is not set; set it, or give a default: env(%q, \"value\")", name, name)
		},
	})
}

// fileFunc implements file(path): the content of a UTF-8 text file, relative
// to dir (the directory of the pipeline file that calls it).
func fileFunc(dir string) function.Function {
	return function.New(&function.Spec{
		Description: "Returns the content of a text file, relative to the directory of the pipeline file.",
		Params:      []function.Parameter{{Name: "path", Type: cty.String}},
		Type:        function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			path := args[0].AsString()
			if !filepath.IsAbs(path) {
				path = filepath.Join(dir, path)
			}
			st, err := os.Stat(path)
			if err != nil {
				return cty.NilVal, function.NewArgError(0, errors.New(describeOSError(err)))
			}
			if st.IsDir() {
				return cty.NilVal, function.NewArgErrorf(0, "%s is a directory, not a file", path)
			}
			if st.Size() > maxFileSize {
				return cty.NilVal, function.NewArgErrorf(0, "%s is %d bytes; file() reads at most %d", path, st.Size(), maxFileSize)
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return cty.NilVal, function.NewArgError(0, errors.New(describeOSError(err)))
			}
			if !utf8.Valid(data) {
				return cty.NilVal, function.NewArgErrorf(0, "%s is not valid UTF-8 text", path)
			}
			return cty.StringVal(string(data)), nil
		},
	})
}

// lengthFunc is cty's length extended to strings, where it counts
// characters.
var lengthFunc = function.New(&function.Spec{
	Description: "Returns the number of elements of a collection or the number of characters of a string.",
	Params: []function.Parameter{{
		Name: "value", Type: cty.DynamicPseudoType, AllowDynamicType: true, AllowUnknown: true,
	}},
	Type: func(args []cty.Value) (cty.Type, error) {
		ty := args[0].Type()
		if ty == cty.String || ty.IsTupleType() || ty.IsListType() || ty.IsMapType() || ty.IsSetType() || ty.IsObjectType() || ty == cty.DynamicPseudoType {
			return cty.Number, nil
		}
		return cty.NilType, fmt.Errorf("length needs a string, list, map or object, not %s", ty.FriendlyName())
	},
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		v := args[0]
		if !v.IsKnown() {
			return cty.UnknownVal(cty.Number), nil
		}
		if v.IsNull() {
			return cty.NilVal, function.NewArgErrorf(0, "length of null")
		}
		switch ty := v.Type(); {
		case ty == cty.String:
			return stdlib.Strlen(v)
		case ty.IsObjectType():
			return cty.NumberIntVal(int64(len(ty.AttributeTypes()))), nil
		default:
			return v.Length(), nil
		}
	},
})
