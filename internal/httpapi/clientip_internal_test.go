package httpapi

import (
	"net/http/httptest"
	"testing"
)

// Behind a trusted proxy the client is the address the proxy appended,
// whatever the client wrote into X-Forwarded-For before it; without one,
// the headers are ignored.
func TestClientIP_LastForwardedHop(t *testing.T) {
	cases := []struct {
		name  string
		trust bool
		xff   []string
		real  string
		want  string
	}{
		{"no proxy trusted: the peer", false, []string{"198.51.100.7"}, "198.51.100.8", "192.0.2.1"},
		{"one hop", true, []string{"203.0.113.5"}, "", "203.0.113.5"},
		{"a forged first hop", true, []string{"10.9.8.7, 203.0.113.5"}, "", "203.0.113.5"},
		{"forged hops in a header line of their own", true, []string{"10.9.8.7", "1.2.3.4, 203.0.113.5"}, "", "203.0.113.5"},
		{"IPv6", true, []string{"2001:db8::1 , 2001:db8::2"}, "", "2001:db8::2"},
		{"not an address: X-Real-Ip", true, []string{"unknown"}, "203.0.113.9", "203.0.113.9"},
		{"nothing usable: the peer", true, []string{"1.2.3.4, garbage"}, "nonsense", "192.0.2.1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := &Server{opt: Options{TrustProxy: c.trust}}
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = "192.0.2.1:4321"
			for _, v := range c.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if c.real != "" {
				r.Header.Set("X-Real-Ip", c.real)
			}
			if got := s.clientIP(r); got != c.want {
				t.Errorf("clientIP = %q, want %q", got, c.want)
			}
		})
	}
}
