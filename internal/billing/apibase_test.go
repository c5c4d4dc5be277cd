package billing

import (
	"net/http"
	"testing"
)

func TestAPIBase_MovesAPathPrefixIntoTheClient(t *testing.T) {
	t.Parallel()
	cases := []struct{ in, origin, prefix string }{
		{"https://api.stripe.com", "https://api.stripe.com", ""},
		{"http://127.0.0.1:12111/stripe-prefix", "http://127.0.0.1:12111", "/stripe-prefix"},
		{"http://127.0.0.1:12111/a/b/", "http://127.0.0.1:12111", "/a/b"},
		{"http://127.0.0.1:12111/stripe-prefix/v1", "http://127.0.0.1:12111", "/stripe-prefix"},
		{"http://127.0.0.1:12111/v1", "http://127.0.0.1:12111/v1", ""}, // stripe-go drops a bare /v1 itself
	}
	base := &http.Client{}
	for _, c := range cases {
		origin, client := apiBase(c.in, base)
		if origin != c.origin {
			t.Errorf("%s: origin %s, want %s", c.in, origin, c.origin)
		}
		pt, ok := client.Transport.(prefixTransport)
		switch {
		case c.prefix == "" && (ok || client != base):
			t.Errorf("%s: wrapped the client without a prefix", c.in)
		case c.prefix != "" && (!ok || pt.prefix != c.prefix):
			t.Errorf("%s: transport %#v, want prefix %s", c.in, client.Transport, c.prefix)
		}
	}
	if base.Transport != nil {
		t.Error("the caller's client was changed")
	}
}
