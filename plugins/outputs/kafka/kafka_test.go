package kafka

import (
	"context"
	"errors"
	"maps"
	"strings"
	"testing"
	"time"

	coreconfig "github.com/engine-audit/engine/core/config"
	"github.com/engine-audit/engine/sdk"
	"github.com/engine-audit/engine/sdk/sdktest"
)

func plugin(t testing.TB) *sdk.Plugin {
	t.Helper()
	p := sdk.Lookup(sdk.KindOutput, "kafka")
	if p == nil {
		t.Fatal("output kafka is not registered")
	}
	return p
}

// block builds a nested block's config from its schema's defaults and
// values, as the core decodes a tls { } or sasl { } block.
func block(opts []sdk.Option, values map[string]any) *sdk.Config {
	vals := map[string]any{}
	for _, o := range opts {
		if o.Default != nil {
			vals[o.Name] = o.Default
		}
	}
	set := []string{}
	for k, v := range values {
		vals[k] = v
		set = append(set, k)
	}
	return sdk.NewConfig(vals, set)
}

// testConfig is the plugin's defaults with brokers and topic set, overridden
// by values.
func testConfig(t testing.TB, values map[string]any) *sdk.Config {
	t.Helper()
	return sdktest.Config(plugin(t), testValues(values))
}

// testValues are values with the brokers and topic testConfig sets.
func testValues(values map[string]any) map[string]any {
	v := map[string]any{"brokers": []string{"127.0.0.1:9092"}, "topic": "engine-test"}
	maps.Copy(v, values)
	return v
}

func TestSchema(t *testing.T) {
	if err := coreconfig.CheckPlugin(plugin(t)); err != nil {
		t.Fatal(err)
	}
}

// TestValidate checks each option's errors and warnings, and that they name
// the option.
func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		values map[string]any
		errs   []string // "option|text" for each error, in any order
		warns  []string // likewise for warnings
	}{
		{name: "defaults"},
		{name: "templated topic and key", values: map[string]any{"topic": "audit-{{ event.module }}-%Y.%m", "key": "{{ host.name }}"}},
		{
			name:   "idempotent with leader acks",
			values: map[string]any{"required_acks": "leader"},
			errs:   []string{`idempotent|idempotent = true needs required_acks = "all"`},
			warns:  []string{`required_acks|"leader" acknowledges events once the partition leader`},
		},
		{
			name:   "leader acks without idempotence is only a warning",
			values: map[string]any{"required_acks": "leader", "idempotent": false},
			warns:  []string{`required_acks|"leader"`},
		},
		{
			name:   "no acks",
			values: map[string]any{"required_acks": "none", "idempotent": false},
			warns:  []string{`required_acks|"none" acknowledges events without any answer`},
		},
		{name: "unclosed template", values: map[string]any{"topic": "audit-{{ event.module"}, errs: []string{"topic|never closed"}},
		{name: "bad date directive", values: map[string]any{"topic": "audit-%q"}, errs: []string{"topic|not a known date directive"}},
		{name: "bad key template", values: map[string]any{"key": "{{ }}"}, errs: []string{"key|must name one field"}},
		{name: "static key", values: map[string]any{"key": "fixed"}, warns: []string{"key|every message goes to one partition"}},
		{name: "topic with a space", values: map[string]any{"topic": "audit events"}, errs: []string{`topic|topic "audit events" has the character ' '`}},
		{name: "template literal with a slash", values: map[string]any{"topic": "audit/{{ event.module }}"}, errs: []string{`topic|"audit/{{ event.module }}" has the character '/'`}},
		{name: "template with %%", values: map[string]any{"topic": "a%%{{ event.module }}"}, errs: []string{"topic|renders a '%'"}},
		{name: "empty topic", values: map[string]any{"topic": ""}, errs: []string{"topic|must not be empty"}},
		{name: "long topic", values: map[string]any{"topic": strings.Repeat("a", 250)}, errs: []string{"topic|longer than Kafka's limit of 249"}},
		{name: "no brokers", values: map[string]any{"brokers": []string{}}, errs: []string{"brokers|lists no broker"}},
		{name: "broker without port", values: map[string]any{"brokers": []string{"kafka:9092", "kafka-2"}}, errs: []string{`brokers.1|"kafka-2" must be host:port`}},
		{name: "broker as URL", values: map[string]any{"brokers": []string{"tcp://kafka:9092"}}, errs: []string{`brokers.0|"tcp://kafka:9092" must be host:port`}},
		{name: "gzip level", values: map[string]any{"compression": "gzip", "compression_level": int64(12)}, errs: []string{"compression_level|gzip levels are 1 (fastest) to 9"}},
		{name: "zstd level", values: map[string]any{"compression": "zstd", "compression_level": int64(3)}},
		{name: "level without levels", values: map[string]any{"compression": "snappy", "compression_level": int64(3)}, warns: []string{`compression_level|compression "snappy" has no levels`}},
		{name: "unknown compression", values: map[string]any{"compression": "brotli"}, errs: []string{`compression|must be "none", "gzip", "snappy", "lz4" or "zstd", got "brotli"`}},
		{name: "tiny max_message_bytes", values: map[string]any{"max_message_bytes": int64(10)}, errs: []string{"max_message_bytes|must be at least 1KiB"}},
		{name: "huge max_message_bytes", values: map[string]any{"max_message_bytes": int64(200 << 20)}, errs: []string{"max_message_bytes|must be less than"}},
		{name: "bad version", values: map[string]any{"version": "four"}, errs: []string{`version|must be a Kafka version such as`}},
		{name: "old version", values: map[string]any{"version": "0.10.2.0"}, errs: []string{"version|must be at least 0.11.0"}},
		{name: "unknown version", values: map[string]any{"version": "9.9.9"}, errs: []string{"version|9.9.9 is not a Kafka release this client knows"}},
		{name: "zstd on an old version", values: map[string]any{"version": "2.0.0", "compression": "zstd"}, errs: []string{`compression|"zstd" needs version 2.1.0`}},
		{name: "kafka 4", values: map[string]any{"version": "4.0.0"}},
		{name: "zero timeout", values: map[string]any{"timeout": time.Duration(0)}, errs: []string{"timeout|must be more than zero"}},
		{name: "one write in flight", values: map[string]any{"writes_in_flight": int64(1)}},
		{name: "most writes in flight", values: map[string]any{"writes_in_flight": int64(maxWritesInFlight)}},
		{name: "no write in flight", values: map[string]any{"writes_in_flight": int64(0)}, errs: []string{"writes_in_flight|must be at least 1"}},
		{name: "too many writes in flight", values: map[string]any{"writes_in_flight": int64(maxWritesInFlight + 1)}, errs: []string{"writes_in_flight|must be at most 32"}},
		{name: "empty client id", values: map[string]any{"client_id": " "}, errs: []string{"client_id|must not be empty"}},
		{name: "reserved header", values: map[string]any{"headers": map[string]string{"event.id": "x"}}, errs: []string{`headers|"event.id" is set by the output`}},
		{name: "headers", values: map[string]any{"headers": map[string]string{"source": "engine", "site": "par1"}}},
		{
			name:   "sasl without password",
			values: map[string]any{"sasl": block(saslOptions, map[string]any{"mechanism": "SCRAM-SHA-512", "username": "engine"})},
			errs:   []string{`sasl.password|is required with sasl; read it from the environment: password = env("KAFKA_PASSWORD")`},
		},
		{
			name: "sasl with an empty password is only a warning",
			values: map[string]any{"tls": block(tlsOptions, nil),
				"sasl": block(saslOptions, map[string]any{"mechanism": "SCRAM-SHA-512", "username": "engine", "password": ""})},
			warns: []string{"sasl.password|is empty"},
		},
		{
			name:   "sasl without user",
			values: map[string]any{"sasl": block(saslOptions, map[string]any{"mechanism": "SCRAM-SHA-256", "password": "x"})},
			errs:   []string{"sasl.username|must not be empty"},
		},
		{
			name:   "sasl plain in clear text",
			values: map[string]any{"sasl": block(saslOptions, map[string]any{"username": "u", "password": "p"})},
			warns:  []string{`sasl.mechanism|"PLAIN" without a tls block sends the password in clear text`},
		},
		{
			name: "sasl plain over tls",
			values: map[string]any{
				"sasl": block(saslOptions, map[string]any{"username": "u", "password": "p"}),
				"tls":  block(tlsOptions, nil),
			},
		},
		{
			name:   "unknown sasl mechanism",
			values: map[string]any{"sasl": block(saslOptions, map[string]any{"mechanism": "GSSAPI", "username": "u", "password": "p"}), "tls": block(tlsOptions, nil)},
			errs:   []string{`sasl.mechanism|must be "PLAIN", "SCRAM-SHA-256" or "SCRAM-SHA-512", got "GSSAPI"`},
		},
		{
			name:   "client certificate without key",
			values: map[string]any{"tls": block(tlsOptions, map[string]any{"cert_file": "/etc/engine/client.pem"})},
			errs:   []string{"tls.cert_file|cert_file and key_file go together"},
		},
		{
			name:   "insecure tls",
			values: map[string]any{"tls": block(tlsOptions, map[string]any{"insecure_skip_verify": true})},
			warns:  []string{"tls.insecure_skip_verify|the brokers' certificates are not checked"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var errs, warns []string
			for _, e := range sdk.Errors(sdktest.Validate(plugin(t), testValues(tc.values))) {
				var oe *sdk.OptionError
				if !errors.As(e, &oe) {
					t.Errorf("%v is not an OptionError", e)
				}
				if sdk.IsWarning(e) {
					warns = append(warns, e.Error())
				} else {
					errs = append(errs, e.Error())
				}
			}
			match(t, "error", errs, tc.errs)
			match(t, "warning", warns, tc.warns)
		})
	}
}

// match checks that got has one entry per want. A want is "option|text":
// the entry is about option and contains text.
func match(t *testing.T, what string, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%ss = %q; want %d, matching %q", what, got, len(want), want)
	}
	used := make([]bool, len(got))
	for _, w := range want {
		option, text, _ := strings.Cut(w, "|")
		found := false
		for i, g := range got {
			if !used[i] && strings.HasPrefix(g, option+": ") && strings.Contains(g, text) {
				used[i], found = true, true
				break
			}
		}
		if !found {
			t.Errorf("no %s about %s containing %q in %q", what, option, text, got)
		}
	}
}

// TestNew: New fails fast on what only shows at startup (an empty password,
// an unreadable CA file), and does not need a reachable broker.
func TestNew(t *testing.T) {
	for _, tc := range []struct {
		name   string
		values map[string]any
		err    string // "" for success
	}{
		{name: "no broker reachable", values: map[string]any{"brokers": []string{"127.0.0.1:1"}}},
		{name: "writes in flight", values: map[string]any{"writes_in_flight": int64(7)}},
		{
			name: "empty password",
			values: map[string]any{"tls": block(tlsOptions, nil),
				"sasl": block(saslOptions, map[string]any{"username": "engine", "password": ""})},
			err: "sasl.password: is empty",
		},
		{
			name:   "missing CA file",
			values: map[string]any{"tls": block(tlsOptions, map[string]any{"ca_file": "/nonexistent/ca.pem"})},
			err:    "tls.ca_file: open /nonexistent/ca.pem",
		},
		{
			name:   "CA file without certificates",
			values: map[string]any{"tls": block(tlsOptions, map[string]any{"ca_file": "kafka_test.go"})},
			err:    "tls.ca_file: kafka_test.go holds no PEM certificate",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := newOutput(testConfig(t, tc.values), sdktest.Env("output.kafka.test", nil))
			if tc.err == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				// The core runs as many delivery workers as the output asks for.
				want := defaultWritesInFlight
				if n, ok := tc.values["writes_in_flight"]; ok {
					want = int(n.(int64))
				}
				if got := o.(sdk.ConcurrentOutput).WritesInFlight(); got != want {
					t.Errorf("WritesInFlight = %d, want %d", got, want)
				}
				o.(*Output).Close(context.Background())
				return
			}
			var oe *sdk.OptionError
			if err == nil || !errors.As(err, &oe) || !strings.HasPrefix(err.Error(), tc.err) {
				t.Fatalf("New = %v; want an OptionError starting %q", err, tc.err)
			}
		})
	}
}
