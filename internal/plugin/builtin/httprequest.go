package builtin

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/textproto"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/switchboard/switchboard/internal/plugin"
	"github.com/switchboard/switchboard/internal/safehttp"
)

// HTTPRequest makes one HTTP request through the SSRF-safe client
// (package safehttp): http/https only, non-public addresses refused at dial
// time unless the operator's outbound allow-list (--outbound-allow) names
// them, redirects re-checked, responses capped. The URL, method and
// headers come from the input or, failing that, the installation's config.
// A response with status ≥ 400 fails the execution unless the config sets
// allowErrorStatus. The execution's idempotency key is sent as the
// Idempotency-Key header. Config values are stored and shown in clear: do
// not put credentials in them.
type HTTPRequest struct{ client *safehttp.Client }

const (
	httpMaxTimeout = 30 * time.Second
	httpDefTimeout = 15 * time.Second
)

var (
	httpHeaders = `{"type": "object", "maxProperties": 50,
		"propertyNames": {"pattern": "^[A-Za-z0-9!#$%&'*+.^_|~-]{1,100}$"},
		"additionalProperties": {"type": "string", "maxLength": 8192}}`
	httpMethod   = `{"enum": ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]}`
	httpURL      = `{"type": "string", "minLength": 1, "maxLength": 4096}`
	httpReqInput = plugin.MustSchema(`{
		"type": "object",
		"properties": {
			"url": ` + httpURL + `,
			"method": ` + httpMethod + `,
			"headers": ` + httpHeaders + `,
			"body": {}
		},
		"additionalProperties": false
	}`)
	httpReqOutput = plugin.MustSchema(`{
		"type": "object",
		"properties": {
			"status": {"type": "integer"},
			"headers": {"type": "object", "additionalProperties": {"type": "string"}},
			"body": {"type": "string"},
			"bodyEncoding": {"enum": ["text", "base64"]},
			"json": {}
		},
		"required": ["status", "headers", "body", "bodyEncoding"],
		"additionalProperties": false
	}`)
	httpReqConfig = plugin.MustSchema(`{
		"type": "object",
		"properties": {
			"url": ` + httpURL + `,
			"method": ` + httpMethod + `,
			"headers": ` + httpHeaders + `,
			"timeoutMs": {"type": "integer", "minimum": 100, "maximum": 30000},
			"allowErrorStatus": {"type": "boolean"}
		},
		"additionalProperties": false
	}`)
)

// NewHTTPRequest returns the catalog entry of the http-request built-in;
// client is the node's SSRF-safe client.
func NewHTTPRequest(client *safehttp.Client) plugin.Builtin {
	return plugin.Builtin{Runner: HTTPRequest{client: client}, Name: "HTTP request",
		Description: "Calls an HTTP API (public addresses only, unless the operator allows more) and returns the status, headers and body."}
}

func (HTTPRequest) Slug() string                 { return "http-request" }
func (HTTPRequest) Version() string              { return "1.0.0" }
func (HTTPRequest) InputSchema() *plugin.Schema  { return httpReqInput }
func (HTTPRequest) OutputSchema() *plugin.Schema { return httpReqOutput }
func (HTTPRequest) ConfigSchema() *plugin.Schema { return httpReqConfig }
func (HTTPRequest) CanBeWorkflowStep() bool      { return true }

type httpReqSettings struct {
	URL              string            `json:"url"`
	Method           string            `json:"method"`
	Headers          map[string]string `json:"headers"`
	Body             json.RawMessage   `json:"body"`
	TimeoutMs        int64             `json:"timeoutMs"`
	AllowErrorStatus bool              `json:"allowErrorStatus"`
}

// forbiddenHeaders are set by the client, not by plugins.
var forbiddenHeaders = map[string]bool{"Host": true, "Content-Length": true, "Connection": true, "Transfer-Encoding": true,
	"Upgrade": true, "Proxy-Authorization": true, "Te": true, "Trailer": true, "Keep-Alive": true}

func checkHeaders(h map[string]string) error {
	for k := range h {
		if forbiddenHeaders[textproto.CanonicalMIMEHeaderKey(k)] {
			return fmt.Errorf("header %s cannot be set", k)
		}
	}
	return nil
}

func (r HTTPRequest) ValidateConfig(raw json.RawMessage) error {
	var cfg httpReqSettings
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if cfg.URL != "" && r.client != nil {
		if _, err := r.client.Policy.CheckURL(cfg.URL); err != nil {
			return fmt.Errorf("url: %s", strings.TrimPrefix(err.Error(), "safehttp: "))
		}
	}
	return checkHeaders(cfg.Headers)
}

// Execute makes the request.
func (r HTTPRequest) Execute(ctx context.Context, ec plugin.ExecutionContext, input json.RawMessage) plugin.ExecutionResult {
	if r.client == nil {
		return plugin.Failed("this node has no outbound HTTP client")
	}
	var cfg, in httpReqSettings
	if len(ec.Config) > 0 {
		if err := json.Unmarshal(ec.Config, &cfg); err != nil {
			return plugin.Failed("config: " + err.Error())
		}
	}
	if err := json.Unmarshal(input, &in); err != nil {
		return plugin.Failed("input: " + err.Error())
	}
	target, method := httpFirst(in.URL, cfg.URL), httpFirst(in.Method, cfg.Method, http.MethodGet)
	if target == "" {
		return plugin.Failed("no url: pass input.url or configure one")
	}
	u, err := r.client.Policy.CheckURL(target)
	if err != nil {
		return plugin.Failed("url: " + strings.TrimPrefix(err.Error(), "safehttp: "))
	}
	headers := map[string]string{}
	for k, v := range cfg.Headers {
		headers[k] = v
	}
	for k, v := range in.Headers {
		headers[k] = v
	}
	if err := checkHeaders(headers); err != nil {
		return plugin.Failed(err.Error())
	}
	var body io.Reader
	contentType := ""
	if len(in.Body) > 0 && string(in.Body) != "null" {
		var s string
		if json.Unmarshal(in.Body, &s) == nil {
			body, contentType = strings.NewReader(s), "text/plain; charset=utf-8"
		} else {
			body, contentType = bytes.NewReader(in.Body), "application/json"
		}
	}
	timeout := httpDefTimeout
	if cfg.TimeoutMs > 0 {
		// Capped in milliseconds before converting: a huge value would
		// wrap negative when multiplied.
		timeout = time.Duration(min(cfg.TimeoutMs, httpMaxTimeout.Milliseconds())) * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return plugin.Failed("request: " + err.Error())
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("User-Agent", "Switchboard-http-request/1.0")
	// The execution's idempotency key — the same when a crashed or retried
	// execution repeats this request, new for the next attempt of a failed
	// step — lets APIs that honour Idempotency-Key (Stripe-style) apply a
	// call once. A header of that name in the input or config wins.
	if ec.IdempotencyKey != "" {
		req.Header.Set("Idempotency-Key", ec.IdempotencyKey)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	metrics := plugin.Metrics{APICalls: 1}
	resp, err := r.client.Do(req)
	if err != nil {
		return plugin.ExecutionResult{Error: "request failed: " + describeHTTPError(err, timeout), Metrics: metrics}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return plugin.ExecutionResult{Error: "reading the response: " + describeHTTPError(err, timeout), Metrics: metrics}
	}
	out := map[string]any{"status": resp.StatusCode, "headers": flatHeaders(resp.Header)}
	if utf8.Valid(raw) {
		out["body"], out["bodyEncoding"] = string(raw), "text"
	} else {
		out["body"], out["bodyEncoding"] = base64.StdEncoding.EncodeToString(raw), "base64"
	}
	if strings.Contains(resp.Header.Get("Content-Type"), "json") && json.Valid(raw) {
		out["json"] = json.RawMessage(raw)
	}
	if resp.StatusCode >= 400 && !cfg.AllowErrorStatus {
		return plugin.ExecutionResult{Error: fmt.Sprintf("the server answered %s", resp.Status), Metrics: metrics}
	}
	return encode(out, 1)
}

func describeHTTPError(err error, timeout time.Duration) string {
	switch {
	case safehttp.IsBlocked(err):
		msg := err.Error()
		if i := strings.Index(msg, "safehttp: "); i >= 0 {
			msg = msg[i+len("safehttp: "):]
		}
		return msg
	case errors.Is(err, safehttp.ErrTooLarge):
		return "the response is larger than the limit"
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Sprintf("no answer within %s", timeout)
	}
	return err.Error()
}

func flatHeaders(h http.Header) map[string]string {
	out := map[string]string{}
	for k, v := range h {
		if len(v) > 0 && k != "Set-Cookie" {
			out[k] = strings.Join(v, ", ")
		}
	}
	return out
}

func httpFirst(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}
