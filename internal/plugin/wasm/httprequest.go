package wasm

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
	"net/url"
	"regexp"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tetratelabs/wazero/api"

	"github.com/switchboard/switchboard/internal/safehttp"
)

// Limits of http_request (docs/plugins.md).
const (
	// MaxHTTPCalls bounds the http_request calls of one execution.
	MaxHTTPCalls = 20
	// MaxHTTPBodyBytes bounds a request body and a response body.
	MaxHTTPBodyBytes = 1 << 20
	// HTTPCallTimeout bounds one request; the execution's own time limit
	// bounds it too.
	HTTPCallTimeout = 10 * time.Second

	maxHTTPRequestBytes        = 2 << 20 // the request document
	maxHTTPHeaders             = 50
	maxHTTPHeaderValueBytes    = 8 << 10
	maxHTTPResponseHeaderBytes = 32 << 10
)

var httpMethods = map[string]bool{http.MethodGet: true, http.MethodPost: true, http.MethodPut: true,
	http.MethodPatch: true, http.MethodDelete: true}

// hostOnlyHeaders are hop-by-hop or framing headers the host sets itself.
var hostOnlyHeaders = map[string]bool{"Host": true, "Content-Length": true, "Connection": true, "Transfer-Encoding": true,
	"Upgrade": true, "Proxy-Authorization": true, "Proxy-Connection": true, "Te": true, "Trailer": true, "Keep-Alive": true}

var headerName = regexp.MustCompile(`^[A-Za-z0-9!#$%&'*+.^_|~-]{1,100}$`)

// httpCall is the request document a module passes to http_request.
type httpCall struct {
	Method     string            `json:"method"`
	URL        string            `json:"url"`
	Headers    map[string]string `json:"headers"`
	Body       *string           `json:"body"`
	BodyBase64 *string           `json:"bodyBase64"`
}

// httpAnswer is the response document http_request gives back. Status 0
// with Error means no response arrived (refused connection, timeout …).
type httpAnswer struct {
	Status       int               `json:"status"`
	Headers      map[string]string `json:"headers"`
	Body         string            `json:"body"`
	BodyEncoding string            `json:"bodyEncoding"`
	Error        string            `json:"error,omitempty"`
}

// redirectRefused is a redirect to a host the manifest does not list.
type redirectRefused struct{ host string }

func (r redirectRefused) Error() string { return "redirect to " + r.host + " refused" }

// hostHTTPRequest: http_request(reqPtr, reqLen, respPtr, respCap) → the
// response document's length; it is copied only if it fits respCap,
// otherwise kept for http_response. Anything the plugin may not do stops
// the module with the reason; a request that gets no answer is an answer
// with status 0 and error.
func hostHTTPRequest(ctx context.Context, m api.Module, reqPtr, reqLen, respPtr, respCap uint32) int32 {
	const fn = "http_request"
	env := envOf(ctx)
	env.require(fn, CapHTTP)
	env.mu.Lock()
	env.httpCalls++
	n := env.httpCalls
	env.pending = nil
	env.mu.Unlock()
	if n > MaxHTTPCalls {
		env.refuse("host function %s.%s: at most %d calls per execution", hostModule, fn, MaxHTTPCalls)
	}
	env.countCall()
	if env.http == nil {
		env.refuse("host function %s.%s: this node makes no outbound HTTP requests for plugins", hostModule, fn)
	}
	if reqLen > maxHTTPRequestBytes {
		env.refuse("host function %s.%s: malformed request: %d bytes; the limit is %d", hostModule, fn, reqLen, maxHTTPRequestBytes)
	}
	req, err := env.newHTTPRequest(ctx, read(env, m, fn, reqPtr, reqLen))
	if err != nil {
		env.refuse("host function %s.%s: %s", hostModule, fn, err)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // a body of "<" stays one byte each
	if err := enc.Encode(env.do(req)); err != nil {
		env.refuse("host function %s.%s: encode the response: %s", hostModule, fn, err)
	}
	raw := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	if uint32(len(raw)) <= respCap {
		write(env, m, fn, respPtr, raw)
	} else {
		env.mu.Lock()
		env.pending = raw
		env.mu.Unlock()
	}
	return int32(len(raw))
}

// hostHTTPResponse: http_response(respPtr, respCap) → the length of the
// response the last http_request kept because it did not fit its buffer;
// copied (and forgotten) once respCap holds it. -1 if none is kept.
func hostHTTPResponse(ctx context.Context, m api.Module, respPtr, respCap uint32) int32 {
	const fn = "http_response"
	env := envOf(ctx)
	env.require(fn, CapHTTP)
	env.mu.Lock()
	raw := env.pending
	env.mu.Unlock()
	if raw == nil {
		return kvNotFound
	}
	if uint32(len(raw)) <= respCap {
		write(env, m, fn, respPtr, raw)
		env.mu.Lock()
		env.pending = nil
		env.mu.Unlock()
	}
	return int32(len(raw))
}

// newHTTPRequest checks a request document against the manifest and the
// limits and builds the request.
func (env *hostEnv) newHTTPRequest(ctx context.Context, doc []byte) (*http.Request, error) {
	var c httpCall
	if err := decodeStrict(doc, &c); err != nil {
		return nil, fmt.Errorf("malformed request: %w", err)
	}
	if c.Method == "" {
		c.Method = http.MethodGet
	}
	if !httpMethods[c.Method] {
		return nil, fmt.Errorf("malformed request: method %q is not one of GET, POST, PUT, PATCH, DELETE", c.Method)
	}
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
		return nil, fmt.Errorf("malformed request: url %q is not an absolute http or https URL", c.URL)
	}
	if !hostAllowed(env.allowedHosts, u.Hostname()) {
		return nil, fmt.Errorf("%s is not on the manifest's allowedHosts", u.Hostname())
	}
	if _, err := env.http.Policy.CheckURL(c.URL); err != nil {
		return nil, fmt.Errorf("url: %s", trimSafehttp(err))
	}
	if len(c.Headers) > maxHTTPHeaders {
		return nil, fmt.Errorf("malformed request: at most %d headers", maxHTTPHeaders)
	}
	for k, v := range c.Headers {
		switch {
		case !headerName.MatchString(k):
			return nil, fmt.Errorf("malformed request: %q is not a header name", k)
		case hostOnlyHeaders[textproto.CanonicalMIMEHeaderKey(k)]:
			return nil, fmt.Errorf("malformed request: header %s is set by the host", k)
		case len(v) > maxHTTPHeaderValueBytes || strings.ContainsFunc(v, func(r rune) bool { return r != '\t' && (r < 0x20 || r == 0x7f) }):
			return nil, fmt.Errorf("malformed request: the value of header %s is too long or has control characters", k)
		}
	}
	var body []byte
	switch {
	case c.Body != nil && c.BodyBase64 != nil:
		return nil, errors.New("malformed request: body and bodyBase64 are exclusive")
	case c.Body != nil:
		body = []byte(*c.Body)
	case c.BodyBase64 != nil:
		if body, err = base64.StdEncoding.DecodeString(*c.BodyBase64); err != nil {
			return nil, errors.New("malformed request: bodyBase64 is not standard base64")
		}
	}
	if len(body) > MaxHTTPBodyBytes {
		return nil, fmt.Errorf("the request body is %d bytes; the limit is %d", len(body), MaxHTTPBodyBytes)
	}
	req, err := http.NewRequestWithContext(ctx, c.Method, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("malformed request: %w", err)
	}
	req.Header.Set("User-Agent", "Switchboard-plugin/1.0")
	for k, v := range c.Headers {
		req.Header.Set(k, v)
	}
	return req, nil
}

// do makes the request within HTTPCallTimeout, following redirects only to
// allow-listed hosts, and reads at most MaxHTTPBodyBytes of the answer.
func (env *hostEnv) do(req *http.Request) httpAnswer {
	const fn = "http_request"
	ctx, cancel := context.WithTimeout(req.Context(), HTTPCallTimeout)
	defer cancel()
	req = req.WithContext(ctx)
	client := *env.http.Client // a copy: the redirect rule is this execution's
	next := client.CheckRedirect
	client.CheckRedirect = func(r *http.Request, via []*http.Request) error {
		if !hostAllowed(env.allowedHosts, r.URL.Hostname()) {
			return redirectRefused{host: r.URL.Hostname()}
		}
		if next != nil {
			return next(r, via)
		}
		return nil
	}
	host := req.URL.Hostname()
	res, err := client.Do(req)
	if err != nil {
		return env.failed(fn, host, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, MaxHTTPBodyBytes+1))
	if err != nil {
		return env.failed(fn, host, err)
	}
	if len(body) > MaxHTTPBodyBytes {
		env.refuse("host function %s.%s: the response body from %s exceeds the limit of %d bytes", hostModule, fn, host, MaxHTTPBodyBytes)
	}
	a := httpAnswer{Status: res.StatusCode, Headers: responseHeaders(res.Header), Body: string(body), BodyEncoding: "text"}
	if !utf8.Valid(body) {
		a.Body, a.BodyEncoding = base64.StdEncoding.EncodeToString(body), "base64"
	}
	return a
}

// failed turns a request error into a refusal (what the plugin may not do)
// or an answer with status 0 (what may happen to any request).
func (env *hostEnv) failed(fn, host string, err error) httpAnswer {
	var redirect redirectRefused
	switch {
	case errors.As(err, &redirect):
		env.refuse("host function %s.%s: %s redirected to %s, which is not on the manifest's allowedHosts", hostModule, fn, host, redirect.host)
	case safehttp.IsBlocked(err):
		env.refuse("host function %s.%s: %s", hostModule, fn, trimSafehttp(err))
	case errors.Is(err, safehttp.ErrTooLarge):
		env.refuse("host function %s.%s: the response body from %s exceeds the limit of %d bytes", hostModule, fn, host, MaxHTTPBodyBytes)
	case errors.Is(err, context.DeadlineExceeded):
		return httpAnswer{Headers: map[string]string{}, BodyEncoding: "text", Error: fmt.Sprintf("no answer from %s within %s", host, HTTPCallTimeout)}
	}
	return httpAnswer{Headers: map[string]string{}, BodyEncoding: "text", Error: err.Error()}
}

// trimSafehttp keeps what follows safehttp's package prefix.
func trimSafehttp(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, "safehttp: "); i >= 0 {
		msg = msg[i+len("safehttp: "):]
	}
	return msg
}

// responseHeaders flattens headers (values joined by ", "), leaving out
// Set-Cookie and whatever exceeds maxHTTPResponseHeaderBytes.
func responseHeaders(h http.Header) map[string]string {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := map[string]string{}
	size := 0
	for _, k := range keys {
		v := strings.Join(h[k], ", ")
		if k == "Set-Cookie" || size+len(k)+len(v) > maxHTTPResponseHeaderBytes {
			continue
		}
		size += len(k) + len(v)
		out[k] = v
	}
	return out
}

// decodeStrict decodes exactly one JSON object into v, refusing unknown
// fields and trailing data.
func decodeStrict(doc []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("not the JSON document expected: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("not the JSON document expected: data after the object")
	}
	return nil
}
