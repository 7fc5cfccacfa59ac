package config

import (
	"encoding/hex"
	"fmt"
	"net"
	"slices"
	"strconv"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// Attributes of the engine block.
const (
	settingStateDir        = "state_dir"
	settingHTTPAddress     = "http_address"
	settingShutdownTimeout = "shutdown_timeout"
	settingLogLevel        = "log_level"
)

var engineSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: settingStateDir}, {Name: settingHTTPAddress}, {Name: settingShutdownTimeout}, {Name: settingLogLevel},
	},
}

// decodeSettings reads the engine block, if there is one.
func (l *loader) decodeSettings() Settings {
	s := Settings{
		ShutdownTimeout: DefaultShutdownTimeout,
		LogLevel:        DefaultLogLevel,
		Set:             map[string]bool{},
	}
	if len(l.engine) == 0 {
		return s
	}
	b := l.engine[0]
	content, diags := b.Body.Content(engineSchema)
	l.diags = append(l.diags, explainUnsupported(diags, "in the engine block", engineSchema)...)
	filename := b.DefRange.Filename
	for _, attr := range sortedHCLAttributes(content.Attributes) {
		str, ok := l.settingString(attr, filename)
		if !ok {
			continue
		}
		fail := func(summary, detail string) {
			l.diags = append(l.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: attr.Expr.Range().Ptr(),
			})
		}
		switch attr.Name {
		case settingStateDir:
			if str == "" {
				fail("Empty state_dir", "state_dir is the directory where the engine keeps checkpoints; give a path, or remove the setting to use the default.")
				continue
			}
			s.StateDir = str
		case settingHTTPAddress:
			if str != "" {
				if err := checkListenAddress(str); err != nil {
					fail("Invalid http_address", fmt.Sprintf("%s. Write HOST:PORT, such as \"127.0.0.1:9464\", or \"\" to turn the endpoint off.", err))
					continue
				}
			}
			s.HTTPAddress = str
		case settingShutdownTimeout:
			d, err := ParseDuration(str)
			if err != nil {
				fail("Invalid shutdown_timeout", err.Error()+".")
				continue
			}
			if d == 0 {
				fail("Invalid shutdown_timeout", "shutdown_timeout must be more than zero: it is how long the engine waits for in-flight batches to drain on SIGTERM.")
				continue
			}
			s.ShutdownTimeout = d
		case settingLogLevel:
			if !slices.Contains(LogLevels, str) {
				detail := fmt.Sprintf("log_level must be one of %s; %q is not.", quoteList(LogLevels), str)
				if sug := suggest(str, LogLevels); sug != "" {
					detail += fmt.Sprintf(" Did you mean %q?", sug)
				}
				fail("Value not allowed", detail)
				continue
			}
			s.LogLevel = str
		}
		s.Set[attr.Name] = true
	}
	return s
}

// settingString evaluates an attribute that must be a string.
func (l *loader) settingString(attr *hcl.Attribute, filename string) (string, bool) {
	val, diags := l.eval(attr.Expr, filename)
	l.diags = append(l.diags, diags...)
	if diags.HasErrors() || !val.IsWhollyKnown() {
		return "", false
	}
	if val.IsNull() {
		return "", false
	}
	conv, err := convert.Convert(val, cty.String)
	if err != nil {
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity:    hcl.DiagError,
			Summary:     "Incorrect value type",
			Detail:      fmt.Sprintf("%s must be a string, but this is %s.", attr.Name, val.Type().FriendlyName()),
			Subject:     attr.Expr.Range().Ptr(),
			Expression:  attr.Expr,
			EvalContext: l.evalContext(filename),
		})
		return "", false
	}
	return conv.AsString(), true
}

// checkListenAddress checks a HOST:PORT listen address.
func checkListenAddress(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not a HOST:PORT address", addr)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || (n == 0 && port != "0") {
		return fmt.Errorf("%q has an invalid port %q; use a number from 0 to 65535", addr, port)
	}
	return nil
}

var pluginSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "path", Required: true},
		{Name: "sha256", Required: true},
	},
}

// checkPluginBlocks checks the attributes of plugin blocks, then reports
// that external plugins cannot be loaded yet.
func (l *loader) checkPluginBlocks() {
	for _, b := range l.plugins {
		content, diags := b.Body.Content(pluginSchema)
		l.diags = append(l.diags, explainUnsupported(diags, "in a plugin block", pluginSchema)...)
		if !hclsyntax.ValidIdentifier(b.Labels[0]) {
			l.diags = append(l.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid plugin name",
				Detail:   fmt.Sprintf("%q cannot be a plugin name. Use letters, digits, underscores and dashes, starting with a letter.", b.Labels[0]),
				Subject:  b.LabelRanges[0].Ptr(),
			})
		}
		filename := b.DefRange.Filename
		if attr, ok := content.Attributes["path"]; ok {
			if path, ok := l.settingString(attr, filename); ok && path == "" {
				l.diags = append(l.diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Empty plugin path",
					Detail:   "path is the plugin executable to run; give its location.",
					Subject:  attr.Expr.Range().Ptr(),
				})
			}
		}
		if attr, ok := content.Attributes["sha256"]; ok {
			if sum, ok := l.settingString(attr, filename); ok {
				if b, err := hex.DecodeString(sum); err != nil || len(b) != 32 {
					l.diags = append(l.diags, &hcl.Diagnostic{
						Severity: hcl.DiagError,
						Summary:  "Invalid sha256",
						Detail:   fmt.Sprintf("sha256 must be the 64 hexadecimal digits of the plugin executable's SHA-256 digest, as printed by sha256sum; %q is not.", sum),
						Subject:  attr.Expr.Range().Ptr(),
					})
				}
			}
		}
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "External plugins are not supported yet",
			Detail: fmt.Sprintf("plugin %q asks for an out-of-process plugin, which this version of engine cannot load. "+
				"Only the built-in plugins listed by 'engine plugins' can be used; remove this block.", b.Labels[0]),
			Subject: b.DefRange.Ptr(),
		})
	}
}
