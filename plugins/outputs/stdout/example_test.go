package stdout

import (
	"testing"

	"github.com/engine-audit/engine/plugins/outputs/internal/exampletest"
)

func TestExamples(t *testing.T) { exampletest.Check(t, ".", "stdout") }
