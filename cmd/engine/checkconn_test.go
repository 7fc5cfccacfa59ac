package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/engine-audit/engine/sdk"
)

// clitest_dial is an output whose connection check dials its address.
func init() {
	sdk.Register(sdk.Plugin{
		Kind: sdk.KindOutput, Type: "clitest_dial", Summary: "Test output with a connection check.",
		Options: []sdk.Option{{Name: "address", Type: sdk.TypeString, Required: true, Doc: "host:port"}},
		New:     func(*sdk.Config, sdk.Env) (any, error) { return nil, errors.New("test plugin") },
		CheckConnection: func(ctx context.Context, cfg *sdk.Config) error {
			var d net.Dialer
			c, err := d.DialContext(ctx, "tcp", cfg.String("address"))
			if err != nil {
				return fmt.Errorf("cannot connect to %s: %w", cfg.String("address"), err)
			}
			return c.Close()
		},
	})
}

func TestValidateCheckConnections(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	closedAddr := closed.Addr().String()
	closed.Close()

	dir := t.TempDir()
	path := filepath.Join(dir, "p.hcl")
	writeFile(t, path, fmt.Sprintf(`input "clitest_source" "a" {
  path = "/var/log/a.log"
}
output "clitest_dial" "up" {
  inputs  = [input.clitest_source.a]
  address = %q
}
output "clitest_dial" "down" {
  inputs  = [input.clitest_source.a]
  address = %q
}
`, ln.Addr().String(), closedAddr), 0o600)

	// Without the flag nothing is dialled.
	if r := cliRun(t, "", "validate", path); r.code != 0 {
		t.Fatalf("validate without --check-connections: %d\n%s", r.code, r.stderr)
	}
	r := cliRun(t, "", "validate", "--check-connections", "--connect-timeout", "5s", path)
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"Error: Cannot reach the destination of output.clitest_dial.down", "p.hcl line 8", "connection refused"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if strings.Contains(r.stderr, "output.clitest_dial.up") {
		t.Errorf("the reachable output was reported:\n%s", r.stderr)
	}

	// Only the reachable one: valid, and said so.
	writeFile(t, path, fmt.Sprintf(`input "clitest_source" "a" {
  path = "/var/log/a.log"
}
output "clitest_dial" "up" {
  inputs  = [input.clitest_source.a]
  address = %q
}
`, ln.Addr().String()), 0o600)
	r = cliRun(t, "", "validate", "--check-connections", path)
	if r.code != 0 || !strings.Contains(r.stdout, "Reached the destination of output.clitest_dial.up.") {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
}
