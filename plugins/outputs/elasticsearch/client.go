package elasticsearch

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	es "github.com/elastic/go-elasticsearch/v8"

	"github.com/engine-audit/engine/sdk"
)

// newClient builds the Elasticsearch client for c. The client never retries
// by itself: the core decides when a batch is sent again.
func newClient(c *config, urls []string) (*es.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = max(4, 2*c.concurrency)
	if c.tls.set {
		tc, err := c.tls.load()
		if err != nil {
			return nil, err
		}
		tr.TLSClientConfig = tc
	}
	header := http.Header{}
	for k, v := range c.headers {
		header.Set(k, v)
	}
	return es.NewClient(es.Config{
		Addresses:    urls,
		Username:     c.username,
		Password:     c.password,
		APIKey:       c.apiKey,
		Header:       header,
		Transport:    tr,
		DisableRetry: true,
		// Bulk bodies are compressed by the output (compress.go).
		CompressRequestBody: false,
	})
}

// load reads the TLS files. Its errors name the option at fault.
func (t tlsConfig) load() (*tls.Config, error) {
	tc := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: t.insecureSkipVerify, //nolint:gosec // the operator's explicit choice, documented as unsafe
		ServerName:         t.serverName,
	}
	if t.caFile != "" {
		pem, err := os.ReadFile(t.caFile)
		if err != nil {
			return nil, &sdk.OptionError{Option: "tls.ca_file", Err: err}
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, sdk.OptionErrorf("tls.ca_file", "%s holds no PEM certificate", t.caFile)
		}
		tc.RootCAs = pool
	}
	if t.certFile != "" {
		cert, err := tls.LoadX509KeyPair(t.certFile, t.keyFile)
		if err != nil {
			return nil, &sdk.OptionError{Option: "tls.cert_file", Err: err}
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// errTransport wraps an error that happened before Elasticsearch answered:
// the request may or may not have been processed.
type errTransport struct {
	url string
	err error
}

func (e *errTransport) Error() string { return explainTransportError(e.url, e.err) }
func (e *errTransport) Unwrap() error { return e.err }

// statusError is a whole request answered with an error status.
type statusError struct {
	what   string // "bulk request", "index template", ...
	status int
	body   string // type: reason, or the start of the body
}

func (e *statusError) Error() string {
	msg := fmt.Sprintf("%s: Elasticsearch answered %d %s", e.what, e.status, http.StatusText(e.status))
	if e.body != "" {
		msg += ": " + e.body
	}
	switch {
	case e.status == http.StatusUnauthorized:
		msg += "; check username and password (or api_key): the events are kept and sent again once the credentials work"
	case e.status == http.StatusForbidden:
		msg += "; the user lacks a privilege for this (writing documents needs create_doc and auto_configure or create_index on the index; the template needs manage_index_templates): the events are kept and sent again once it is granted"
	case e.status == http.StatusTooManyRequests:
		msg += "; the cluster is overloaded, the batch is sent again later"
	case e.status >= 500:
		msg += "; the batch is sent again later"
	}
	return msg
}

// errorBody summarizes an error response body as "type: reason".
func errorBody(body []byte) string {
	var r struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(body, &r) == nil && len(r.Error) > 0 {
		var e esError
		if json.Unmarshal(r.Error, &e) == nil && e.Type != "" {
			return e.String()
		}
		var s string
		if json.Unmarshal(r.Error, &s) == nil {
			return truncate(s, maxReason)
		}
	}
	return truncate(strings.TrimSpace(string(body)), 300)
}

// esError is the error object of a response or of a bulk item.
type esError struct {
	Type     string   `json:"type"`
	Reason   string   `json:"reason"`
	CausedBy *esError `json:"caused_by"`
}

// maxReason bounds the reasons passed on to the dead letter: enough for
// Elasticsearch's field, type and value preview, not a whole document.
const maxReason = 1000

func (e *esError) String() string {
	var b strings.Builder
	b.WriteString(e.Type)
	if e.Reason != "" {
		b.WriteString(": ")
		b.WriteString(e.Reason)
	}
	// The innermost cause says what was wrong with the value.
	if c := e.CausedBy; c != nil {
		for c.CausedBy != nil {
			c = c.CausedBy
		}
		b.WriteString(" (caused by ")
		b.WriteString(c.Type)
		if c.Reason != "" {
			b.WriteString(": ")
			b.WriteString(c.Reason)
		}
		b.WriteString(")")
	}
	return truncate(b.String(), maxReason)
}

// truncate cuts s to at most n bytes on a UTF-8 boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && s[cut]&0xc0 == 0x80 {
		cut--
	}
	return s[:cut] + "…"
}

// explainTransportError turns a connection-level error into advice.
func explainTransportError(url string, err error) string {
	var (
		unknownAuthority x509.UnknownAuthorityError
		hostname         x509.HostnameError
		certInvalid      x509.CertificateInvalidError
		recordHeader     tls.RecordHeaderError
		netErr           net.Error
	)
	where := "cannot reach Elasticsearch at " + url
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return where + ": no answer within the timeout; the request is sent again later (documents it stored are recognised by their _id)"
	case errors.Is(err, syscall.ECONNREFUSED):
		return where + ": connection refused; is Elasticsearch running and listening on that address and port?"
	case errors.As(err, &unknownAuthority):
		return where + ": TLS: the server's certificate is signed by an authority this host does not trust; set tls { ca_file = \"...\" } to the cluster's CA (" + err.Error() + ")"
	case errors.As(err, &hostname):
		return where + ": TLS: the server's certificate is not valid for this host name; use a name the certificate lists in urls, or set tls { server_name = \"...\" } (" + err.Error() + ")"
	case errors.As(err, &certInvalid):
		return where + ": TLS: the server's certificate is not valid (" + err.Error() + ")"
	case errors.As(err, &recordHeader):
		return where + ": the server does not speak TLS; use an http:// URL, or enable TLS on the cluster"
	case strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"),
		strings.Contains(err.Error(), "malformed HTTP response"):
		return where + ": the server answered plain HTTP to TLS (or TLS to plain HTTP); check http:// versus https:// in urls"
	case strings.Contains(err.Error(), "the client noticed that the server is not Elasticsearch"):
		return where + ": the server is not Elasticsearch (its answer lacks the X-Elastic-Product header)"
	case errors.As(err, &netErr) && netErr.Timeout():
		return where + ": timed out; the request is sent again later"
	}
	return where + ": " + err.Error()
}

// isDialError reports whether err happened while connecting, so that the
// request certainly did not reach the server and another node can take it.
func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// clusterInfo is the part of GET / the output reads.
type clusterInfo struct {
	Name        string `json:"name"`
	ClusterName string `json:"cluster_name"`
	Version     struct {
		Number string `json:"number"`
	} `json:"version"`
}

// minMajor is the oldest Elasticsearch major version the output supports
// (composable index templates, data streams, the 8.x bulk responses).
const minMajor = 8

// info reads the version of one node: GET /, or where a distribution
// leaves that out (its rest-root module), the local node's info.
func info(ctx context.Context, client *es.Client, url string, timeout time.Duration) (clusterInfo, error) {
	var ci clusterInfo
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	status, body, err := get(ctx, client, "/")
	if err != nil {
		return ci, &errTransport{url: url, err: err}
	}
	if status == http.StatusNotFound || status == http.StatusMethodNotAllowed {
		var nodes struct {
			Nodes map[string]struct {
				Version string `json:"version"`
			} `json:"nodes"`
		}
		status, body, err = get(ctx, client, "/_nodes/_local?filter_path=nodes.*.version")
		if err != nil {
			return ci, &errTransport{url: url, err: err}
		}
		if status == http.StatusOK && json.Unmarshal(body, &nodes) == nil {
			for _, n := range nodes.Nodes {
				ci.Version.Number = n.Version
			}
		}
	} else if status == http.StatusOK && json.Unmarshal(body, &ci) != nil {
		ci.Version.Number = ""
	}
	if status != http.StatusOK {
		return ci, fmt.Errorf("%s: %w", url, &statusError{what: "GET /", status: status, body: errorBody(body)})
	}
	if ci.Version.Number == "" {
		return ci, fmt.Errorf("%s: GET / did not answer like Elasticsearch (no version number): %s", url, truncate(string(body), 200))
	}
	major, _, _ := strings.Cut(ci.Version.Number, ".")
	if n, err := strconv.Atoi(major); err != nil || n < minMajor {
		return ci, fmt.Errorf("%s: Elasticsearch %s is too old; this output needs %d.0 or later", url, ci.Version.Number, minMajor)
	}
	return ci, nil
}

// get sends a GET request and reads the answer.
func get(ctx context.Context, client *es.Client, path string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, path, nil)
	if err != nil {
		return 0, nil, err
	}
	res, err := client.Perform(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	return res.StatusCode, body, err
}

// checkConnection is the plugin's CheckConnection: it asks every node in
// urls for GET / with the configured credentials and TLS settings.
func checkConnection(ctx context.Context, cfg *sdk.Config) error {
	c, err := parseConfig(cfg)
	if err != nil {
		return err
	}
	var errs []error
	for _, u := range c.urls {
		client, err := newClient(c, []string{u})
		if err != nil {
			return err
		}
		_, err = info(ctx, client, u, min(c.timeout, 30*time.Second))
		client.Close(context.Background())
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
