package elasticsearch

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/elastic/go-elasticsearch/v8/esapi"
)

// templateJSON holds the settings and mappings of the index template: the
// ECS types of every field the engine's plugins emit.
//
//go:embed template.json
var templateJSON []byte

// templateVersion is the template's version in the cluster. Bump it with
// every change to template.json (a test holds the two together): clusters
// with an older version get the new template on the next start.
const templateVersion = 1

// templatePriority outranks Elasticsearch's built-in templates (logs-*-*
// and metrics-*-* have 100), so that a data stream such as
// logs-engine.audit-default gets these mappings.
const templatePriority = 150

// templateBody returns the composable index template for c.
func templateBody(c *config) ([]byte, error) {
	var tmpl json.RawMessage = templateJSON
	body := map[string]any{
		"index_patterns": []string{c.tmpl.pattern},
		"priority":       templatePriority,
		"version":        templateVersion,
		"template":       tmpl,
		"_meta": map[string]any{
			"managed_by":  "engine",
			"description": "ECS mappings for the events of the engine's audit pipelines",
		},
	}
	if c.dataStream != "" {
		body["data_stream"] = map[string]any{}
	}
	return json.Marshal(body)
}

// installTemplate puts the index template unless the cluster has it at our
// version or a newer one (and overwrite is off). It reports whether it put
// it.
func (o *Output) installTemplate(ctx context.Context) (bool, error) {
	t := o.cfg.tmpl
	if !t.overwrite {
		have, found, err := o.templateVersion(ctx, t.name)
		if err != nil {
			return false, err
		}
		if found && have >= templateVersion {
			if have > templateVersion {
				o.log.Info("elasticsearch output: the cluster's index template is newer than this engine's; leaving it", "template", t.name, "version", have, "ours", templateVersion)
			}
			return false, nil
		}
	}
	body, err := templateBody(o.cfg)
	if err != nil {
		return false, err
	}
	ctx, cancel := context.WithTimeout(ctx, o.cfg.timeout)
	defer cancel()
	res, err := esapi.IndicesPutIndexTemplateRequest{Name: t.name, Body: bytes.NewReader(body)}.Do(ctx, o.client)
	if err != nil {
		return false, o.transportError(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if res.StatusCode != http.StatusOK {
		return false, &statusError{what: fmt.Sprintf("installing index template %q", t.name), status: res.StatusCode, body: errorBody(data)}
	}
	o.log.Info("elasticsearch output: installed the index template", "template", t.name, "pattern", t.pattern, "version", templateVersion)
	return true, nil
}

// templateVersion returns the version of the cluster's template name, and
// whether it exists. A template without a version counts as version 0.
func (o *Output) templateVersion(ctx context.Context, name string) (int, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, o.cfg.timeout)
	defer cancel()
	res, err := esapi.IndicesGetIndexTemplateRequest{Name: name}.Do(ctx, o.client)
	if err != nil {
		return 0, false, o.transportError(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(res.Body, 16<<20))
	switch res.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		return 0, false, nil
	default:
		return 0, false, &statusError{what: fmt.Sprintf("reading index template %q", name), status: res.StatusCode, body: errorBody(data)}
	}
	var r struct {
		IndexTemplates []struct {
			Name          string `json:"name"`
			IndexTemplate struct {
				Version *int `json:"version"`
			} `json:"index_template"`
		} `json:"index_templates"`
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return 0, false, fmt.Errorf("reading index template %q: %w", name, err)
	}
	for _, it := range r.IndexTemplates {
		if it.Name == name {
			if it.IndexTemplate.Version == nil {
				return 0, true, nil
			}
			return *it.IndexTemplate.Version, true, nil
		}
	}
	return 0, false, nil
}

// setupHint is added to errors of the template installation.
func setupHint(err error) error {
	msg := err.Error()
	if strings.Contains(msg, "manage_index_templates") || strings.Contains(msg, " 403 ") {
		return fmt.Errorf("%w (or set template { enabled = false } when templates are managed elsewhere)", err)
	}
	return err
}
