//go:build !linux

package audit

import (
	"errors"

	"github.com/engine-audit/engine/sdk"
)

func newInput(*sdk.Config, sdk.Env) (any, error) {
	return nil, errors.New("the audit input reads the Linux kernel's audit subsystem and runs only on Linux")
}
