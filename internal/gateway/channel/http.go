package channel

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
)

// Doer sends HTTP requests; adapters get the SSRF-safe client.
type Doer interface {
	Do(*http.Request) (*http.Response, error)
}

// CallJSON sends a JSON request (Content-Type application/json unless
// header sets one) and returns the status, headers and body.
// A transport failure is a Temporary *SendError without the URL.
func CallJSON(ctx context.Context, c Doer, method, url string, header http.Header, in any) (int, http.Header, []byte, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, nil, nil, fmt.Errorf("encode request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return 0, nil, nil, &SendError{Kind: Permanent, Message: "cannot build request"}
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	if in != nil && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := c.Do(req)
	if err != nil {
		return 0, nil, nil, TransportError(err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return res.StatusCode, res.Header, nil, TransportError(err)
	}
	return res.StatusCode, res.Header, raw, nil
}
