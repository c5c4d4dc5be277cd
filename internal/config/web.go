package config

import (
	"net"
	"net/url"
	"strings"
)

type rawWebConfig struct {
	metricsAddr, corsOrigins string
}

func webSettings(c *rawConfig) []setting {
	w := &c.web
	return []setting{
		{"metrics-addr", "SWITCHBOARD_METRICS_ADDR", "", "address to serve /metrics on, e.g. 127.0.0.1:9090; when set, /metrics leaves --listen (default: /metrics on --listen)", &w.metricsAddr},
		{"cors-origins", "SWITCHBOARD_CORS_ORIGINS", "", "comma-separated browser origins (scheme://host[:port]) allowed to call /api/v1 from another origin (default: none)", &w.corsOrigins},
	}
}

func (r rawWebConfig) validate(bad func(name, format string, args ...any), listen string) (string, []string) {
	addr := strings.TrimSpace(r.metricsAddr)
	if addr != "" {
		if _, port, err := net.SplitHostPort(addr); err != nil {
			bad("metrics-addr", "%q is not host:port", addr)
		} else if addr == listen && port != "0" {
			bad("metrics-addr", "%q must differ from --listen", addr)
		}
	}
	var origins []string
	seen := map[string]bool{}
	for _, o := range strings.Split(r.corsOrigins, ",") {
		if o = strings.TrimSpace(o); o == "" {
			continue
		}
		norm, ok := normalizeOrigin(o)
		if !ok {
			bad("cors-origins", "%q must be an origin such as https://app.example.com (scheme, host and optional port; no path, no wildcard)", o)
			continue
		}
		if !seen[norm] {
			seen[norm] = true
			origins = append(origins, norm)
		}
	}
	return addr, origins
}

// normalizeOrigin returns o as a browser sends it in the Origin header:
// lower-case scheme and host, the port only when given, nothing else.
func normalizeOrigin(o string) (string, bool) {
	u, err := url.Parse(strings.TrimSuffix(o, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" || strings.Contains(u.Host, "*") {
		return "", false
	}
	if p := u.Port(); p != "" {
		if n := strings.TrimLeft(p, "0123456789"); n != "" {
			return "", false
		}
	}
	return strings.ToLower(u.Scheme + "://" + u.Host), true
}
