package wasm

import (
	"fmt"
	"net/netip"
	"strings"
)

// maxAllowedHosts bounds a manifest's allowedHosts.
const maxAllowedHosts = 50

// checkAllowedHosts normalises a manifest's allowedHosts (lower case, no
// trailing dot) and says what is wrong with them. Entries are host names or
// "*." and a host name of at least two labels; IP addresses are refused in
// any form, so a reviewer reads names, and addresses are judged only where
// they cannot be faked: at dial time (package safehttp).
func checkAllowedHosts(hosts []string, asksHTTP bool) ([]string, []string) {
	var problems []string
	switch {
	case len(hosts) > 0 && !asksHTTP:
		problems = append(problems, `only plugins asking for the "http" permission list hosts`)
	case len(hosts) == 0 && asksHTTP:
		problems = append(problems, `the "http" permission needs at least one host to reach`)
	case len(hosts) > maxAllowedHosts:
		problems = append(problems, fmt.Sprintf("at most %d hosts", maxAllowedHosts))
	}
	out := make([]string, 0, len(hosts))
	seen := map[string]bool{}
	for _, raw := range hosts {
		h := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(raw)), ".")
		if msg := checkHostPattern(h); msg != "" {
			problems = append(problems, fmt.Sprintf("%q %s", raw, msg))
			continue
		}
		if seen[h] {
			problems = append(problems, fmt.Sprintf("%q is listed twice", raw))
			continue
		}
		seen[h] = true
		out = append(out, h)
	}
	if len(hosts) == 0 {
		out = nil
	}
	return out, problems
}

// checkHostPattern explains why h is not a host name or wildcard pattern,
// or returns "".
func checkHostPattern(h string) string {
	name, wildcard := strings.CutPrefix(h, "*.")
	if _, err := netip.ParseAddr(strings.Trim(name, "[]")); err == nil {
		return "is an IP address; list host names only"
	}
	if len(name) == 0 || len(name) > 253 {
		return "is not a host name"
	}
	labels := strings.Split(name, ".")
	if wildcard && len(labels) < 2 {
		return "is too wide: a wildcard needs a domain of at least two labels (*.example.com)"
	}
	for _, l := range labels {
		if len(l) == 0 || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return "is not a host name (labels are 1–63 of a-z, 0-9 and -)"
		}
		for _, r := range l {
			if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' {
				return "is not a host name (labels are 1–63 of a-z, 0-9 and -; no ports, paths or schemes)"
			}
		}
	}
	if strings.Trim(labels[len(labels)-1], "0123456789") == "" {
		return "is not a host name (a numeric last label reads as an address)"
	}
	return ""
}

// hostAllowed reports whether host (as in a URL, any case) matches one of
// the manifest's normalised allowedHosts. IP literals never match.
func hostAllowed(allowed []string, host string) bool {
	h := strings.TrimSuffix(strings.ToLower(host), ".")
	if h == "" {
		return false
	}
	if _, err := netip.ParseAddr(strings.Trim(h, "[]")); err == nil {
		return false
	}
	for _, a := range allowed {
		if suffix, ok := strings.CutPrefix(a, "*"); ok {
			if len(h) > len(suffix) && strings.HasSuffix(h, suffix) {
				return true
			}
		} else if h == a {
			return true
		}
	}
	return false
}
