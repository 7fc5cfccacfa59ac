// Package kafka implements the "kafka" output: it produces each event as a
// JSON message to a Kafka topic, waits until the brokers acknowledge the
// whole batch, and tells the core which events to retry and which Kafka
// refused for good.
package kafka

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/IBM/sarama"

	"github.com/engine-audit/engine/sdk"
	"github.com/engine-audit/engine/sdk/template"
)

// The values of required_acks.
const (
	acksAll    = "all"
	acksLeader = "leader"
	acksNone   = "none"
)

// The SASL mechanisms.
const (
	saslPlain     = sarama.SASLTypePlaintext   // "PLAIN"
	saslSCRAM256  = sarama.SASLTypeSCRAMSHA256 // "SCRAM-SHA-256"
	saslSCRAM512  = sarama.SASLTypeSCRAMSHA512 // "SCRAM-SHA-512"
	eventIDHeader = "event.id"
)

// defaultVersion is the Kafka protocol version the output speaks unless told
// otherwise. Every request it sends at this version is one that Kafka 4.x
// still accepts (Kafka 4 dropped the request versions of brokers older than
// 2.1), and older brokers down to 2.8 understand it too; sarama also lowers
// each request to what the broker announces it supports.
const defaultVersion = "2.8.0"

// defaultWritesInFlight is how many batches the output produces at once
// unless told otherwise: enough to keep the brokers busy while the next
// batch is encoded (see the README's benchmark), few enough that little is
// held in memory and sent again after a failure.
const defaultWritesInFlight = 4

// maxWritesInFlight bounds writes_in_flight. Each write in flight holds its
// batch's messages (about 2.5 MB for 2048 audit events) until the brokers
// answer, and the producer keeps one request in flight per broker anyway.
const maxWritesInFlight = 32

var compressionCodecs = map[string]sarama.CompressionCodec{
	"none":   sarama.CompressionNone,
	"gzip":   sarama.CompressionGZIP,
	"snappy": sarama.CompressionSnappy,
	"lz4":    sarama.CompressionLZ4,
	"zstd":   sarama.CompressionZSTD,
}

var tlsOptions = []sdk.Option{
	{Name: "ca_file", Type: sdk.TypeString, Default: "",
		Doc: "PEM file of the certificate authorities that signed the brokers' certificates. Empty uses the system's trust store."},
	{Name: "cert_file", Type: sdk.TypeString, Default: "",
		Doc: "PEM client certificate, for brokers that authenticate clients by certificate (mutual TLS). Needs key_file."},
	{Name: "key_file", Type: sdk.TypeString, Default: "",
		Doc: "PEM private key of cert_file."},
	{Name: "insecure_skip_verify", Type: sdk.TypeBool, Default: false,
		Doc: "Accept any broker certificate without checking it. Only for tests: anyone between the engine and the brokers can then read and change the events."},
	{Name: "server_name", Type: sdk.TypeString, Default: "",
		Doc: "Name to verify the brokers' certificates against, when it differs from the host in brokers (connecting by IP address, say). Empty uses each broker's host."},
}

var saslOptions = []sdk.Option{
	{Name: "mechanism", Type: sdk.TypeString, Default: saslPlain, Enum: []string{saslPlain, saslSCRAM256, saslSCRAM512},
		Doc: `SASL mechanism: "PLAIN" (the password is sent as is: use it with tls), "SCRAM-SHA-256" or "SCRAM-SHA-512" (the password never crosses the network).`},
	{Name: "username", Type: sdk.TypeString, Required: true, Doc: "SASL user name."},
	{Name: "password", Type: sdk.TypeString, Required: true,
		Doc: `SASL password. Keep it out of the pipeline file: password = env("KAFKA_PASSWORD").`},
}

var options = []sdk.Option{
	{Name: "brokers", Type: sdk.TypeStringList, Required: true,
		Doc: `Bootstrap brokers as "host:port". One reachable broker is enough to find the others; list several so that the output can start while one is down.`},
	{Name: "topic", Type: sdk.TypeString, Required: true,
		Doc: `Topic to produce to. A template: {{ field }} is replaced by the event's field and %Y, %m, %d, %H by its date in UTC, as in "audit-{{ event.module }}". An event that lacks a field the template names is rejected (dead letter).`},
	{Name: "key", Type: sdk.TypeString, Default: "",
		Doc: `Message key, a template like topic, such as "{{ host.name }}". Messages with the same key go to the same partition (hashed with murmur2, as the Java client does), which keeps their order. An event that lacks a field the key names is sent without key. Empty sends every message without key, spread over the partitions.`},
	{Name: "required_acks", Type: sdk.TypeString, Default: acksAll, Enum: []string{acksAll, acksLeader, acksNone},
		Doc: `When the broker acknowledges a message: "all" once every in-sync replica has it, "leader" once the partition leader has written it (lost if the leader fails before the replicas copy it), "none" without waiting (lost silently on any failure).`},
	{Name: "idempotent", Type: sdk.TypeBool, Default: true,
		Doc: `Let the brokers drop the duplicates that the producer's own retries would otherwise write, and keep each partition in order. Needs required_acks = "all"; the producer then keeps one request in flight per broker.`},
	{Name: "compression", Type: sdk.TypeString, Default: "lz4", Enum: []string{"none", "gzip", "snappy", "lz4", "zstd"},
		Doc: "Compression of message batches; the brokers store and the consumers receive them compressed. lz4 makes audit JSON about 8 times smaller for the least CPU; zstd about 18 times, for about a third more CPU in the engine (and brokers and consumers of Kafka 2.1 or later)."},
	{Name: "compression_level", Type: sdk.TypeInt, Default: int64(0),
		Doc: "Level for gzip (1-9) or zstd (1-22; 1-2 fastest, 3-5 default, 6-9 better, 10 and more best). 0 uses the codec's default. lz4 and snappy have no levels."},
	{Name: "max_message_bytes", Type: sdk.TypeSize, Default: int64(1000000),
		Doc: "Largest message (event JSON, key and headers) the output sends; a larger event is rejected (dead letter) without being sent. Keep it at or below the topic's max.message.bytes."},
	{Name: "client_id", Type: sdk.TypeString, Default: "engine",
		Doc: "Client id sent to the brokers: it names this producer in broker logs, quotas and metrics."},
	{Name: "version", Type: sdk.TypeString, Default: defaultVersion,
		Doc: `Kafka protocol version to speak, as "major.minor.patch"; at least 0.11.0 (record headers). Requests never use a newer version than the broker announces.`},
	{Name: "timeout", Type: sdk.TypeDuration, Default: 10 * time.Second, Bound: sdk.Positive,
		Doc: "How long to wait to connect to a broker, and for a broker to acknowledge a request (with required_acks = \"all\", for the replicas to copy it)."},
	{Name: "headers", Type: sdk.TypeStringMap, Default: map[string]string{},
		Doc: `Static headers added to every message, such as { source = "engine" }. The output also adds "event.id" to events that have an id.`},
	{Name: "writes_in_flight", Type: sdk.TypeInt, Default: int64(defaultWritesInFlight),
		Doc: fmt.Sprintf("How many batches the output may be producing at once: the next batches are encoded and sent while earlier ones wait for their acknowledgements. "+
			"Above 1, batches may reach Kafka out of order (and a batch retried after a failure lands after later ones), so messages with one key keep their order only with 1. 1 to %d.", maxWritesInFlight)},
	{Name: "tls", Type: sdk.TypeBlock, Options: tlsOptions,
		Doc: "Connect to the brokers with TLS. An empty tls {} block uses TLS with the system's trust store."},
	{Name: "sasl", Type: sdk.TypeBlock, Options: saslOptions,
		Doc: "Authenticate with SASL."},
}

func init() {
	sdk.Register(sdk.Plugin{
		Kind:    sdk.KindOutput,
		Type:    "kafka",
		Summary: "Produce events as JSON messages to a Kafka topic, acknowledged by every in-sync replica",
		Description: "Writes each event as one JSON message, with the event's time as the message timestamp and its id " +
			"in an \"event.id\" header. A batch is acknowledged once the brokers have acknowledged every message " +
			"(acks=all by default); messages Kafka refuses for good (too large) go to the dead letter, and the rest " +
			"of a failed batch is retried by the core.",
		Options:         options,
		Validate:        validate,
		New:             newOutput,
		CheckConnection: checkConnection,
	})
}

// config is the decoded and checked configuration.
type config struct {
	brokers         []string
	topic           *template.Template
	key             *template.Template // nil without key
	headers         []sarama.RecordHeader
	acks            sarama.RequiredAcks
	idempotent      bool
	codec           sarama.CompressionCodec
	level           int
	maxMessageBytes int
	clientID        string
	version         sarama.KafkaVersion
	timeout         time.Duration
	writesInFlight  int
	tls             *sdk.Config
	sasl            *sdk.Config
}

// validate is Plugin.Validate: errors and warnings about the options alone,
// without touching the network or the filesystem.
func validate(cfg *sdk.Config) error {
	_, warnings, err := parseConfig(cfg)
	return errors.Join(append(warnings, err)...)
}

// parseConfig checks cfg. It returns every problem it finds in err (joined),
// and remarks that do not make the config invalid in warnings.
func parseConfig(cfg *sdk.Config) (config, []error, error) {
	var errs, warns []error
	c := config{
		brokers:    cfg.Strings("brokers"),
		idempotent: cfg.Bool("idempotent"),
		clientID:   cfg.String("client_id"),
		timeout:    cfg.Duration("timeout"),
		tls:        cfg.Block("tls"),
		sasl:       cfg.Block("sasl"),
	}
	fail := func(option, format string, args ...any) {
		errs = append(errs, sdk.OptionErrorf(option, format, args...))
	}

	if len(c.brokers) == 0 {
		fail("brokers", `lists no broker; write brokers = ["kafka-1.example.com:9092"]`)
	}
	for i, b := range c.brokers {
		if err := checkBroker(b); err != nil {
			fail(fmt.Sprintf("brokers.%d", i), "%v", err)
		}
	}

	topic, err := template.Parse(cfg.String("topic"))
	switch {
	case err != nil:
		fail("topic", "%v", err)
	case cfg.String("topic") == "":
		fail("topic", "must not be empty")
	default:
		c.topic = topic
		if err := checkTopicTemplate(topic); err != nil {
			fail("topic", "%v", err)
		}
	}
	if k := cfg.String("key"); k != "" {
		if c.key, err = template.Parse(k); err != nil {
			fail("key", "%v", err)
		} else if c.key.Static() {
			warns = append(warns, sdk.OptionErrorf("key", "%q is the same for every event, so every message goes to one partition; "+
				"use a field such as {{ host.name }}, or no key to spread messages over the partitions", k))
		}
	}

	switch acks := cfg.String("required_acks"); acks {
	case acksAll:
		c.acks = sarama.WaitForAll
	case acksLeader, acksNone:
		c.acks = sarama.WaitForLocal
		what := "once the partition leader has written them: they are lost if the leader fails before a replica has copied them"
		if acks == acksNone {
			c.acks = sarama.NoResponse
			what = "without any answer from the broker: they are lost silently when a broker fails, restarts or refuses them"
		}
		warns = append(warns, sdk.OptionErrorf("required_acks", "%q acknowledges events %s; \"all\" is the only setting that does not lose acknowledged events", acks, what))
		if c.idempotent {
			fail("idempotent", `idempotent = true needs required_acks = "all" (the brokers can only drop retried duplicates that every replica has seen); `+
				`set required_acks = "all", or idempotent = false to accept %q`, acks)
		}
	default:
		fail("required_acks", `must be "all", "leader" or "none", got %q`, acks)
	}

	comp := cfg.String("compression")
	codec, ok := compressionCodecs[comp]
	if !ok {
		fail("compression", `must be "none", "gzip", "snappy", "lz4" or "zstd", got %q`, comp)
	}
	c.codec = codec
	c.level = sarama.CompressionLevelDefault
	if lvl := cfg.Int("compression_level"); lvl != 0 {
		switch comp {
		case "gzip":
			if lvl < 1 || lvl > 9 {
				fail("compression_level", "gzip levels are 1 (fastest) to 9 (smallest), got %d; 0 uses the default (6)", lvl)
			}
		case "zstd":
			if lvl < 1 || lvl > 22 {
				fail("compression_level", "zstd levels are 1 to 22, got %d; 0 uses the default (3)", lvl)
			}
		default:
			warns = append(warns, sdk.OptionErrorf("compression_level", "compression %q has no levels; the level is ignored", comp))
		}
		c.level = int(lvl)
	}

	switch mb := cfg.Size("max_message_bytes"); {
	case mb < 1024:
		fail("max_message_bytes", "must be at least 1KiB, got %d", mb)
	case mb >= int64(sarama.MaxRequestSize):
		fail("max_message_bytes", "must be less than %d bytes (the largest request the client sends), got %d", sarama.MaxRequestSize, mb)
	default:
		c.maxMessageBytes = int(mb)
	}

	if strings.TrimSpace(c.clientID) == "" {
		fail("client_id", "must not be empty")
	}

	v, err := sarama.ParseKafkaVersion(cfg.String("version"))
	switch {
	case err != nil:
		fail("version", `must be a Kafka version such as "3.9.0" or %q, got %q`, defaultVersion, cfg.String("version"))
	case !v.IsAtLeast(sarama.V0_11_0_0):
		fail("version", "must be at least 0.11.0 (message headers and idempotent producers need it), got %s", v)
	case !knownVersion(v):
		fail("version", "%s is not a Kafka release this client knows (newest: %s)", v, sarama.MaxVersion)
	default:
		c.version = v
		if c.codec == sarama.CompressionZSTD && !v.IsAtLeast(sarama.V2_1_0_0) {
			fail("compression", `"zstd" needs version 2.1.0 or later, got %s`, v)
		}
	}

	switch n := cfg.Int("writes_in_flight"); {
	case n < 1:
		fail("writes_in_flight", "must be at least 1 (one batch at a time, in order), got %d", n)
	case n > maxWritesInFlight:
		fail("writes_in_flight", "must be at most %d, got %d; beyond a few batches in flight the brokers are already kept busy, and each one holds its batch in memory", maxWritesInFlight, n)
	default:
		c.writesInFlight = int(n)
	}

	names := make([]string, 0, len(cfg.Map("headers")))
	for name := range cfg.Map("headers") {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		switch {
		case name == "":
			fail("headers", "a header name is empty")
		case name == eventIDHeader:
			fail("headers", "%q is set by the output from each event's id; choose another name", eventIDHeader)
		default:
			c.headers = append(c.headers, sarama.RecordHeader{Key: []byte(name), Value: []byte(cfg.Map("headers")[name])})
		}
	}

	if t := c.tls; t != nil {
		if (t.String("cert_file") == "") != (t.String("key_file") == "") {
			fail("tls.cert_file", "cert_file and key_file go together: set both for a client certificate, or neither")
		}
		if t.Bool("insecure_skip_verify") {
			warns = append(warns, sdk.OptionErrorf("tls.insecure_skip_verify", "the brokers' certificates are not checked: anyone on the network path can read and change the events"))
		}
	}
	if s := c.sasl; s != nil {
		if s.String("username") == "" {
			fail("sasl.username", "must not be empty")
		}
		switch {
		case !s.IsSet("password"):
			fail("sasl.password", `is required with sasl; read it from the environment: password = env("KAFKA_PASSWORD")`)
		case s.String("password") == "":
			// Not an error: CI validates pipelines without the secrets.
			warns = append(warns, sdk.OptionErrorf("sasl.password", "is empty: the brokers will refuse it, and the output will not start; is the variable it is read from set?"))
		}
		if s.String("mechanism") == saslPlain && c.tls == nil {
			warns = append(warns, sdk.OptionErrorf("sasl.mechanism", `"PLAIN" without a tls block sends the password in clear text; add tls {} or use "SCRAM-SHA-512"`))
		}
		switch m := s.String("mechanism"); m {
		case saslPlain, saslSCRAM256, saslSCRAM512:
		default:
			fail("sasl.mechanism", `must be "PLAIN", "SCRAM-SHA-256" or "SCRAM-SHA-512", got %q`, m)
		}
	}

	for i := range warns {
		warns[i] = sdk.Warning(warns[i])
	}
	return c, warns, errors.Join(errs...)
}

func knownVersion(v sarama.KafkaVersion) bool {
	return slices.Contains(sarama.SupportedVersions, v)
}

// checkBroker checks that b looks like host:port.
func checkBroker(b string) error {
	i := strings.LastIndexByte(b, ':')
	if i <= 0 || i == len(b)-1 || strings.Contains(b, "://") {
		return fmt.Errorf(`%q must be host:port, such as "kafka-1.example.com:9092"`, b)
	}
	for _, c := range b[i+1:] {
		if c < '0' || c > '9' {
			return fmt.Errorf(`%q must be host:port, such as "kafka-1.example.com:9092"`, b)
		}
	}
	return nil
}

// validTopicChar reports whether c may appear in a Kafka topic name.
func validTopicChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
}

// maxTopicLength is the longest topic name Kafka accepts.
const maxTopicLength = 249

// checkTopic reports why name is not a valid Kafka topic name.
func checkTopic(name string) error {
	switch {
	case name == "":
		return errors.New("the topic name is empty")
	case name == "." || name == "..":
		return fmt.Errorf("%q is not a valid topic name", name)
	case len(name) > maxTopicLength:
		return fmt.Errorf("topic name of %d characters is longer than Kafka's limit of %d", len(name), maxTopicLength)
	}
	for i := 0; i < len(name); i++ {
		if !validTopicChar(name[i]) {
			return fmt.Errorf("topic %q has the character %q; Kafka topic names use only letters, digits, '.', '_' and '-'", name, name[i])
		}
	}
	return nil
}

// checkTopicTemplate checks what can be checked of a topic template before
// any event is seen: a static name entirely, the literal text of a template.
func checkTopicTemplate(t *template.Template) error {
	if t.Static() {
		return checkTopic(t.String())
	}
	// Render with placeholder fields: a template's literal text must be
	// valid topic characters on its own.
	lit := t.String()
	for i := 0; i < len(lit); i++ {
		switch c := lit[i]; {
		case c == '{' && strings.HasPrefix(lit[i:], "{{"):
			end := strings.Index(lit[i:], "}}")
			i += end + 1
		case c == '%':
			i++
			if i < len(lit) && lit[i] == '%' {
				return fmt.Errorf("%q renders a '%%', which Kafka does not allow in topic names", lit)
			}
		case !validTopicChar(c):
			return fmt.Errorf("%q has the character %q; Kafka topic names use only letters, digits, '.', '_' and '-'", lit, c)
		}
	}
	return nil
}

// saramaConfig builds the producer's configuration. It reads the TLS files.
func (c *config) saramaConfig() (*sarama.Config, error) {
	sc := sarama.NewConfig()
	sc.ClientID = c.clientID
	sc.Version = c.version

	sc.Net.DialTimeout = c.timeout
	sc.Net.WriteTimeout = c.timeout
	// A broker answers a produce request after up to Producer.Timeout
	// waiting for its replicas; the read waits a little longer so that the
	// answer to a slow request still arrives.
	sc.Net.ReadTimeout = c.timeout + 5*time.Second
	sc.Net.KeepAlive = 30 * time.Second

	// Only the topics produced to, not the whole cluster: a large cluster's
	// metadata is megabytes. This also keeps New from needing a broker.
	sc.Metadata.Full = false
	sc.Metadata.Timeout = c.timeout

	sc.Producer.RequiredAcks = c.acks
	sc.Producer.Timeout = c.timeout
	sc.Producer.Compression = c.codec
	sc.Producer.CompressionLevel = c.level
	sc.Producer.MaxMessageBytes = c.maxMessageBytes
	sc.Producer.Partitioner = sarama.NewMurmur2Partitioner
	sc.Producer.Return.Successes = true
	sc.Producer.Return.Errors = true
	sc.Producer.Idempotent = c.idempotent
	if c.idempotent {
		// sarama's idempotent producer keeps one request in flight per
		// broker (Kafka allows up to 5; sarama does not track more).
		sc.Net.MaxOpenRequests = 1
	}
	// Write hands sarama a whole batch at once, and then waits for it.
	// sarama's default flush sends the first message alone and the rest in
	// whatever pieces have reached it each time the previous request is
	// answered: five or six round trips per batch of 1024, one after the
	// other (one request in flight). Gathering for 1ms after the first
	// message sends a batch in one or two requests (see the README).
	sc.Producer.Flush.Frequency = time.Millisecond
	// A few quick retries ride out a leader election; anything longer is
	// the core's job, with its backoff.
	sc.Producer.Retry.Max = 3
	sc.Producer.Retry.Backoff = 250 * time.Millisecond
	sc.Metadata.Retry.Max = 2
	sc.Metadata.Retry.Backoff = 250 * time.Millisecond
	// The idempotent producer asks for its id when it starts; sarama's
	// default of 50 attempts would hold a start against a down cluster
	// for many seconds.
	sc.Producer.Transaction.Retry.Max = 3
	sc.Producer.Transaction.Retry.Backoff = 250 * time.Millisecond

	if c.tls != nil {
		tc, err := c.tlsConfig()
		if err != nil {
			return nil, err
		}
		sc.Net.TLS.Enable = true
		sc.Net.TLS.Config = tc
	}
	if s := c.sasl; s != nil {
		sc.Net.SASL.Enable = true
		sc.Net.SASL.Handshake = true
		sc.Net.SASL.User = s.String("username")
		sc.Net.SASL.Password = s.String("password")
		switch m := s.String("mechanism"); m {
		case saslSCRAM256, saslSCRAM512:
			sc.Net.SASL.Mechanism = sarama.SASLMechanism(m)
			sc.Net.SASL.SCRAMClientGeneratorFunc = scramClientGenerator(m)
		default:
			sc.Net.SASL.Mechanism = sarama.SASLTypePlaintext
		}
	}
	if err := sc.Validate(); err != nil {
		return nil, fmt.Errorf("kafka output: %w", err)
	}
	return sc, nil
}

func (c *config) tlsConfig() (*tls.Config, error) {
	t := c.tls
	tc := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         t.String("server_name"),
		InsecureSkipVerify: t.Bool("insecure_skip_verify"), //nolint:gosec // the operator asked for it, and Validate warns
	}
	if ca := t.String("ca_file"); ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return nil, sdk.OptionErrorf("tls.ca_file", "%v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, sdk.OptionErrorf("tls.ca_file", "%s holds no PEM certificate", ca)
		}
		tc.RootCAs = pool
	}
	if cert := t.String("cert_file"); cert != "" {
		pair, err := tls.LoadX509KeyPair(cert, t.String("key_file"))
		if err != nil {
			return nil, sdk.OptionErrorf("tls.cert_file", "loading the client certificate and key: %v", err)
		}
		tc.Certificates = []tls.Certificate{pair}
	}
	return tc, nil
}
