//go:build !windows

package audit

import (
	"github.com/engine-audit/engine/plugins/inputs/audit/rules"
	"github.com/engine-audit/engine/sdk"
)

// validateRules checks the rules and rule files for `engine validate`,
// without touching the kernel.
func validateRules(s settings) []error {
	return sdk.Errors(rules.Validate(rules.Config{Rules: s.rules, RuleFiles: s.ruleFiles, Immutable: s.immutable}))
}
