package docker

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// engineClient speaks the few calls of the Docker Engine API this processor
// needs, as JSON over HTTP on the engine's unix socket.
type engineClient struct {
	socket string
	http   *http.Client
}

func newEngineClient(socket string) *engineClient {
	var d net.Dialer
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return d.DialContext(ctx, "unix", socket)
		},
		MaxIdleConns:    4,
		IdleConnTimeout: 0,
	}
	return &engineClient{socket: socket, http: &http.Client{Transport: tr}}
}

// errNotFound is what inspect returns for a container the engine does not
// know (another runtime's, or removed).
var errNotFound = errors.New("no such container")

// inspectResult is the part of GET /containers/{id}/json used here.
type inspectResult struct {
	ID     string        `json:"Id"`
	Name   string        `json:"Name"`
	Config inspectConfig `json:"Config"`
	State  struct {
		Running bool `json:"Running"`
	} `json:"State"`
}

// inspectConfig is the part of a container's Config used here.
type inspectConfig struct {
	Image  string            `json:"Image"`
	Labels map[string]string `json:"Labels"`
}

func (c *engineClient) get(ctx context.Context, path string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://docker"+path, nil)
	if err != nil {
		return nil, err
	}
	return c.http.Do(req)
}

// ping checks that an engine answers on the socket.
func (c *engineClient) ping(ctx context.Context) error {
	resp, err := c.get(ctx, "/_ping")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("docker engine at %s answered %s to /_ping", c.socket, resp.Status)
	}
	return nil
}

// inspect returns a container's metadata.
func (c *engineClient) inspect(ctx context.Context, id string) (*inspectResult, error) {
	resp, err := c.get(ctx, "/containers/"+url.PathEscape(id)+"/json")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil, errNotFound
	default:
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("docker engine answered %s to inspect %s: %s", resp.Status, id, strings.TrimSpace(string(msg)))
	}
	var r inspectResult
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return nil, fmt.Errorf("decode inspect of %s: %w", id, err)
	}
	return &r, nil
}

// listed is one running container in the answer of GET /containers/json.
type listed struct {
	ID     string            `json:"Id"`
	Names  []string          `json:"Names"`
	Image  string            `json:"Image"`
	Labels map[string]string `json:"Labels"`
}

// list returns the running containers.
func (c *engineClient) list(ctx context.Context) ([]listed, error) {
	resp, err := c.get(ctx, "/containers/json")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("docker engine answered %s to the list of containers: %s", resp.Status, strings.TrimSpace(string(msg)))
	}
	var r []listed
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return nil, fmt.Errorf("decode the list of containers: %w", err)
	}
	return r, nil
}

// engineEvent is one message of GET /events.
type engineEvent struct {
	Type   string `json:"Type"`
	Action string `json:"Action"`
	Actor  struct {
		ID         string            `json:"ID"`
		Attributes map[string]string `json:"Attributes"`
	} `json:"Actor"`
}

// events streams container events until ctx ends or the connection breaks.
// connected is called once the engine has accepted the stream.
func (c *engineClient) events(ctx context.Context, connected func(), fn func(engineEvent)) error {
	q := url.Values{"filters": {`{"type":["container"]}`}}
	resp, err := c.get(ctx, "/events?"+q.Encode())
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("docker engine answered %s to /events", resp.Status)
	}
	connected()
	dec := json.NewDecoder(bufio.NewReader(resp.Body))
	for {
		var ev engineEvent
		if err := dec.Decode(&ev); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if errors.Is(err, io.EOF) {
				return errors.New("docker engine closed the event stream")
			}
			return err
		}
		if ev.Type == "container" || ev.Type == "" {
			fn(ev)
		}
	}
}
