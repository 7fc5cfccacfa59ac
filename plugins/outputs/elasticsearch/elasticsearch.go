// Package elasticsearch implements the "elasticsearch" output: it indexes
// events with the bulk API, each under a deterministic _id with the create
// action, so that a retried or replayed batch never duplicates a document.
// Per-document results are classified into delivered, to retry and rejected;
// rejected documents can be kept in a dead-letter index. An index template
// with ECS mappings for every field the engine emits is installed on first
// use.
package elasticsearch

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/engine-audit/engine/sdk"
	"github.com/engine-audit/engine/sdk/template"
)

// Defaults, shared by the schema and the README.
const (
	defaultIndex          = "engine-%Y.%m.%d"
	defaultBulkMaxEvents  = 1600
	defaultBulkMaxBytes   = 5 << 20
	defaultTimeout        = 90 * time.Second
	defaultConcurrency    = 1
	defaultWritesInFlight = 2
	maxWritesInFlight     = 16
)

var tlsOptions = []sdk.Option{
	{
		Name:    "ca_file",
		Type:    sdk.TypeString,
		Default: "",
		Doc:     "PEM file of the certificate authorities that sign the cluster's certificates. Empty: the system's roots.",
	},
	{
		Name:    "cert_file",
		Type:    sdk.TypeString,
		Default: "",
		Doc:     "PEM client certificate, for clusters that authenticate clients by certificate. Needs key_file.",
	},
	{
		Name:    "key_file",
		Type:    sdk.TypeString,
		Default: "",
		Doc:     "PEM private key of cert_file.",
	},
	{
		Name:    "insecure_skip_verify",
		Type:    sdk.TypeBool,
		Default: false,
		Doc:     "Do not verify the server's certificate. Anyone on the path can then read and change the events; use only to test.",
	},
	{
		Name:    "server_name",
		Type:    sdk.TypeString,
		Default: "",
		Doc:     "Name to verify the server's certificate against, when it differs from the host in urls (connecting by IP address).",
	},
}

var templateOptions = []sdk.Option{
	{
		Name:    "enabled",
		Type:    sdk.TypeBool,
		Default: true,
		Doc:     "Install the index template on first use. Set false when the cluster's templates are managed elsewhere.",
	},
	{
		Name:    "name",
		Type:    sdk.TypeString,
		Default: "",
		Doc:     `Name of the index template. Empty: the index's fixed prefix without trailing separators ("engine" for "engine-%Y.%m.%d"), or the data stream's name.`,
	},
	{
		Name:    "pattern",
		Type:    sdk.TypeString,
		Default: "",
		Doc:     `Index pattern the template applies to. Empty: the index's fixed prefix followed by * ("engine-*"), or the data stream's name.`,
	},
	{
		Name:    "overwrite",
		Type:    sdk.TypeBool,
		Default: false,
		Doc:     "Replace the template even when the cluster's copy has the same or a newer version (an edited template is put back).",
	},
}

var options = []sdk.Option{
	{
		Name:     "urls",
		Type:     sdk.TypeStringList,
		Required: true,
		Doc:      `Elasticsearch nodes, such as ["https://es1:9200", "https://es2:9200"]. Requests go to them in turn; a node that refuses connections is skipped until it recovers.`,
	},
	{
		Name:    "username",
		Type:    sdk.TypeString,
		Default: "",
		Doc:     "User for HTTP basic authentication. Needs password; excludes api_key.",
	},
	{
		Name:    "password",
		Type:    sdk.TypeString,
		Default: "",
		Doc:     `Password of username. Keep it out of the file: password = env("ES_PASSWORD").`,
	},
	{
		Name:    "api_key",
		Type:    sdk.TypeString,
		Default: "",
		Doc:     `API key, either "id:key" or the base64 "encoded" form Elasticsearch returns. Excludes username and password.`,
	},
	{
		Name:    "tls",
		Type:    sdk.TypeBlock,
		Doc:     "TLS settings for https:// urls. Without the block, the system's roots verify the server.",
		Options: tlsOptions,
	},
	{
		Name:    "index",
		Type:    sdk.TypeString,
		Default: defaultIndex,
		Doc:     `Index to write to: a name template with {{ field }} references and %Y, %m, %d, %H from the event's time (UTC). Rendered names are lower-cased. Excludes data_stream.`,
	},
	{
		Name:    "data_stream",
		Type:    sdk.TypeString,
		Default: "",
		Doc:     `Data stream to write to instead of an index, such as "logs-engine.audit-default". The template installed for it declares the data stream. Excludes index.`,
	},
	{
		Name:    "pipeline",
		Type:    sdk.TypeString,
		Default: "",
		Doc:     "Ingest pipeline to run the documents through. Empty: none (the index's default pipeline, if it has one).",
	},
	{
		Name:    "bulk_max_events",
		Type:    sdk.TypeInt,
		Default: int64(defaultBulkMaxEvents),
		Doc:     "Most documents in one bulk request. A batch with more is sent as several requests.",
	},
	{
		Name:    "bulk_max_bytes",
		Type:    sdk.TypeSize,
		Default: int64(defaultBulkMaxBytes),
		Doc:     "Most bytes (before compression) in one bulk request. A document larger than this is sent alone.",
	},
	{
		Name:    "bulk_concurrency",
		Type:    sdk.TypeInt,
		Default: int64(defaultConcurrency),
		Doc:     "How many bulk requests of one batch are in flight at once. Above 1, a batch is cut into that many requests when each still gets 64 documents or more. writes_in_flight is usually the better knob: it keeps requests whole.",
	},
	{
		Name:    "writes_in_flight",
		Type:    sdk.TypeInt,
		Default: int64(defaultWritesInFlight),
		Doc:     "How many batches the output may be writing at once: the next batch is encoded and sent while earlier ones wait for the cluster. Batches may then be stored out of order (documents carry their own @timestamp). 1 to 16.",
	},
	{
		Name:    "compression",
		Type:    sdk.TypeBool,
		Default: true,
		Doc:     "Compress request bodies with gzip (fastest level). Audit documents shrink about tenfold for a few percent of CPU.",
	},
	{
		Name:    "timeout",
		Type:    sdk.TypeDuration,
		Default: defaultTimeout,
		Bound:   sdk.Positive,
		Doc:     "Longest wait for one request's answer. A bulk request that times out is sent again later; documents it did store are then recognised by their _id.",
	},
	{
		Name:    "template",
		Type:    sdk.TypeBlock,
		Doc:     "The index template with the engine's ECS mappings. Without the block it is installed with the default name and pattern.",
		Options: templateOptions,
	},
	{
		Name:    "dead_letter_index",
		Type:    sdk.TypeString,
		Default: "",
		Doc:     "Index for documents Elasticsearch rejects (mapping or parse errors): each is stored there as a string in event.original, with error.type and error.message. A name template like index. Empty: rejected events go to the core's dead letter.",
	},
	{
		Name:    "headers",
		Type:    sdk.TypeStringMap,
		Default: map[string]string{},
		Doc:     "Extra HTTP headers sent with every request (a proxy's token, say).",
	},
}

func init() {
	sdk.Register(sdk.Plugin{
		Kind:    sdk.KindOutput,
		Type:    "elasticsearch",
		Summary: "Index events into Elasticsearch with the bulk API, without duplicates on retry",
		Description: "Sends batches with the bulk API, each document under a deterministic _id with the create " +
			"action: a document stored by an earlier attempt answers 409 and counts as delivered, so retries and " +
			"replays never duplicate. Per-document errors are sorted into retry (429, 5xx) and rejected (mapping " +
			"and parse errors, optionally kept in a dead-letter index). Installs an index template with ECS " +
			"mappings for every field the engine emits.",
		Options:         options,
		Validate:        func(cfg *sdk.Config) error { _, err := parseConfig(cfg); return err },
		New:             newOutput,
		CheckConnection: checkConnection,
	})
}

// config is the decoded and checked configuration.
type config struct {
	urls           []string
	username       string
	password       string
	apiKey         string // base64 "id:key"
	tls            tlsConfig
	index          *template.Template // nil in data stream mode
	dataStream     string
	pipeline       string
	maxEvents      int
	maxBytes       int
	concurrency    int
	writesInFlight int
	compression    bool
	timeout        time.Duration
	tmpl           templateConfig
	deadLetter     *template.Template // nil when unset
	headers        map[string]string
}

type tlsConfig struct {
	set                bool
	caFile             string
	certFile, keyFile  string
	insecureSkipVerify bool
	serverName         string
}

type templateConfig struct {
	enabled   bool
	name      string
	pattern   string
	overwrite bool
}

func parseConfig(cfg *sdk.Config) (*config, error) {
	c := &config{
		username:    cfg.String("username"),
		password:    cfg.String("password"),
		pipeline:    cfg.String("pipeline"),
		compression: cfg.Bool("compression"),
		timeout:     cfg.Duration("timeout"),
		headers:     cfg.Map("headers"),
	}
	urls := cfg.Strings("urls")
	if len(urls) == 0 {
		return nil, sdk.OptionErrorf("urls", "needs at least one URL, such as \"https://localhost:9200\"")
	}
	anyHTTPS := false
	for i, raw := range urls {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, sdk.OptionErrorf(fmt.Sprintf("urls.%d", i), "%q is not an http:// or https:// URL with a host, such as \"https://localhost:9200\"", raw)
		}
		if u.User != nil {
			return nil, sdk.OptionErrorf(fmt.Sprintf("urls.%d", i), "put credentials in username and password (or api_key), not in the URL")
		}
		if u.RawQuery != "" || u.Fragment != "" {
			return nil, sdk.OptionErrorf(fmt.Sprintf("urls.%d", i), "%q must not have a query or fragment", raw)
		}
		anyHTTPS = anyHTTPS || u.Scheme == "https"
		c.urls = append(c.urls, strings.TrimRight(raw, "/"))
	}

	apiKey := cfg.String("api_key")
	switch {
	case apiKey != "" && (c.username != "" || c.password != ""):
		return nil, sdk.OptionErrorf("api_key", "set either api_key or username and password, not both")
	case c.username != "" && c.password == "":
		return nil, sdk.OptionErrorf("password", "username %q needs a password", c.username)
	case c.password != "" && c.username == "":
		return nil, sdk.OptionErrorf("username", "password is set but username is not")
	case apiKey != "":
		key, err := normalizeAPIKey(apiKey)
		if err != nil {
			return nil, &sdk.OptionError{Option: "api_key", Err: err}
		}
		c.apiKey = key
	}

	if b := cfg.Block("tls"); b != nil {
		c.tls = tlsConfig{
			set:                true,
			caFile:             b.String("ca_file"),
			certFile:           b.String("cert_file"),
			keyFile:            b.String("key_file"),
			insecureSkipVerify: b.Bool("insecure_skip_verify"),
			serverName:         b.String("server_name"),
		}
		if (c.tls.certFile == "") != (c.tls.keyFile == "") {
			return nil, sdk.OptionErrorf("tls.cert_file", "cert_file and key_file go together: set both or neither")
		}
		if !anyHTTPS {
			return nil, sdk.OptionErrorf("tls", "the tls block only applies to https:// urls, and every URL is http://")
		}
	}

	c.dataStream = cfg.String("data_stream")
	if c.dataStream != "" {
		if cfg.IsSet("index") {
			return nil, sdk.OptionErrorf("data_stream", "set either index or data_stream, not both")
		}
		if err := checkIndexName(c.dataStream, true); err != nil {
			return nil, sdk.OptionErrorf("data_stream", "%v", err)
		}
	} else {
		t, err := parseIndexTemplate(cfg.String("index"))
		if err != nil {
			return nil, &sdk.OptionError{Option: "index", Err: err}
		}
		c.index = t
	}
	if c.pipeline != "" && strings.ContainsAny(c.pipeline, "/?#& ") {
		return nil, sdk.OptionErrorf("pipeline", "%q is not a pipeline name", c.pipeline)
	}

	maxEvents := cfg.Int("bulk_max_events")
	if maxEvents < 1 || maxEvents > 1_000_000 {
		return nil, sdk.OptionErrorf("bulk_max_events", "must be between 1 and 1000000, got %d", maxEvents)
	}
	c.maxEvents = int(maxEvents)
	maxBytes := cfg.Size("bulk_max_bytes")
	if maxBytes < 1024 || maxBytes > 1<<30 {
		return nil, sdk.OptionErrorf("bulk_max_bytes", "must be between 1KiB and 1GiB, got %d bytes", maxBytes)
	}
	c.maxBytes = int(maxBytes)
	conc := cfg.Int("bulk_concurrency")
	if conc < 1 || conc > 64 {
		return nil, sdk.OptionErrorf("bulk_concurrency", "must be between 1 and 64, got %d", conc)
	}
	c.concurrency = int(conc)
	wif := cfg.Int("writes_in_flight")
	if wif < 1 || wif > maxWritesInFlight {
		return nil, sdk.OptionErrorf("writes_in_flight", "must be between 1 and %d, got %d", maxWritesInFlight, wif)
	}
	c.writesInFlight = int(wif)

	c.tmpl = templateConfig{enabled: true}
	if b := cfg.Block("template"); b != nil {
		c.tmpl = templateConfig{
			enabled:   b.Bool("enabled"),
			name:      b.String("name"),
			pattern:   b.String("pattern"),
			overwrite: b.Bool("overwrite"),
		}
	}
	if c.tmpl.enabled {
		if err := c.resolveTemplateNames(); err != nil {
			return nil, err
		}
	}

	if dl := cfg.String("dead_letter_index"); dl != "" {
		t, err := parseIndexTemplate(dl)
		if err != nil {
			return nil, &sdk.OptionError{Option: "dead_letter_index", Err: err}
		}
		if c.index != nil && t.String() == c.index.String() {
			return nil, sdk.OptionErrorf("dead_letter_index", "must differ from index: a document rejected there would be rejected again")
		}
		c.deadLetter = t
	}
	for k := range c.headers {
		if k == "" || strings.ContainsAny(k, " :\r\n") {
			return nil, sdk.OptionErrorf("headers", "%q is not an HTTP header name", k)
		}
	}
	return c, nil
}

// resolveTemplateNames fills in the template's name and pattern from the
// index or data stream when they are not set.
func (c *config) resolveTemplateNames() error {
	if c.dataStream != "" {
		if c.tmpl.name == "" {
			c.tmpl.name = c.dataStream
		}
		if c.tmpl.pattern == "" {
			c.tmpl.pattern = c.dataStream
		}
	} else {
		prefix, whole := staticPrefix(c.index.String())
		if c.tmpl.pattern == "" {
			if prefix == "" {
				return sdk.OptionErrorf("template.pattern", "index %q starts with a field or date, so no index pattern can be derived from it; set template { pattern = \"...\" } or enabled = false", c.index.String())
			}
			c.tmpl.pattern = prefix
			if !whole {
				c.tmpl.pattern += "*"
			}
		}
		if c.tmpl.name == "" {
			c.tmpl.name = strings.TrimRight(prefix, "-_.+")
			if c.tmpl.name == "" {
				c.tmpl.name = "engine"
			}
		}
	}
	if c.tmpl.pattern == "*" || strings.Trim(c.tmpl.pattern, "*") == "" {
		return sdk.OptionErrorf("template.pattern", "%q would apply the template to every index", c.tmpl.pattern)
	}
	if err := checkIndexName(strings.ReplaceAll(c.tmpl.pattern, "*", "x"), false); err != nil {
		return sdk.OptionErrorf("template.pattern", "%v", err)
	}
	if c.tmpl.name == "" || strings.ContainsAny(c.tmpl.name, "/?#*\\\" ") {
		return sdk.OptionErrorf("template.name", "%q is not a template name", c.tmpl.name)
	}
	return nil
}

// parseIndexTemplate parses an index name template and checks its fixed
// text against Elasticsearch's rules for index names.
func parseIndexTemplate(src string) (*template.Template, error) {
	if src == "" {
		return nil, fmt.Errorf("must not be empty")
	}
	t, err := template.Parse(src)
	if err != nil {
		return nil, err
	}
	prefix, whole := staticPrefix(src)
	if whole {
		if err := checkIndexName(prefix, false); err != nil {
			return nil, err
		}
		return t, nil
	}
	if prefix != "" && strings.ContainsAny(prefix[:1], "-_+") {
		return nil, fmt.Errorf("%q: index names must not start with '-', '_' or '+'", src)
	}
	lit := literalText(src)
	if i := strings.IndexAny(lit, invalidIndexChars); i >= 0 {
		return nil, fmt.Errorf("%q: index names must not contain %q", src, lit[i])
	}
	if strings.ToLower(lit) != lit {
		return nil, fmt.Errorf("%q: index names must be lower case", src)
	}
	return t, nil
}

// invalidIndexChars are the characters Elasticsearch refuses in index names.
const invalidIndexChars = "\\/*?\"<>| ,#:"

// checkIndexName applies Elasticsearch's rules for index and data stream
// names to a fixed name.
func checkIndexName(name string, dataStream bool) error {
	switch {
	case name == "" || name == "." || name == "..":
		return fmt.Errorf("%q is not an index name", name)
	case strings.ToLower(name) != name:
		return fmt.Errorf("%q: index and data stream names must be lower case", name)
	case strings.ContainsAny(name[:1], "-_+"):
		return fmt.Errorf("%q: names must not start with '-', '_' or '+'", name)
	case strings.IndexAny(name, invalidIndexChars) >= 0:
		return fmt.Errorf("%q: names must not contain any of %s or a space", name, `\ / * ? " < > | , # :`)
	case len(name) > 255:
		return fmt.Errorf("%q: names must be at most 255 bytes", name)
	case dataStream && strings.HasPrefix(name, "."):
		return fmt.Errorf("%q: data stream names must not start with '.'", name)
	}
	return nil
}

// staticPrefix returns the text of a name template before its first field
// or date directive, and whether that is the whole template.
func staticPrefix(src string) (prefix string, whole bool) {
	var b strings.Builder
	for i := 0; i < len(src); i++ {
		switch {
		case strings.HasPrefix(src[i:], "{{"):
			return b.String(), false
		case src[i] == '%':
			if i+1 < len(src) && src[i+1] == '%' {
				b.WriteByte('%')
				i++
				continue
			}
			return b.String(), false
		default:
			b.WriteByte(src[i])
		}
	}
	return b.String(), true
}

// literalText returns the fixed text of a name template, with field
// references and date directives removed.
func literalText(src string) string {
	var b strings.Builder
	for i := 0; i < len(src); i++ {
		switch {
		case strings.HasPrefix(src[i:], "{{"):
			end := strings.Index(src[i:], "}}")
			if end < 0 {
				return b.String()
			}
			i += end + 1
		case src[i] == '%':
			i++
			if i < len(src) && src[i] == '%' {
				b.WriteByte('%')
			}
		default:
			b.WriteByte(src[i])
		}
	}
	return b.String()
}

// normalizeAPIKey accepts "id:key" or its base64 encoding and returns the
// encoding, which is what the Authorization header carries.
func normalizeAPIKey(key string) (string, error) {
	if id, secret, ok := strings.Cut(key, ":"); ok {
		if id == "" || secret == "" {
			return "", fmt.Errorf("write it as \"id:key\" or as the base64 encoded form")
		}
		return base64.StdEncoding.EncodeToString([]byte(key)), nil
	}
	dec, err := base64.StdEncoding.DecodeString(key)
	if err != nil || !strings.Contains(string(dec), ":") {
		return "", fmt.Errorf("is neither \"id:key\" nor the base64 encoding of it (the \"encoded\" value Elasticsearch returns)")
	}
	return key, nil
}
