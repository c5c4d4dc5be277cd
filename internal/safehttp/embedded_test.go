package safehttp_test

import (
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/switchboard/switchboard/internal/safehttp"
)

// IPv6 spellings that embed an IPv4 address are judged by where they lead:
// every form that can reach an internal IPv4 address is refused, and a
// NAT64 address of a public IPv4 one (what DNS64 answers) is allowed.
func TestIsPublic_IPv4EmbeddingIPv6(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, addr string
		public     bool
	}{
		{"IPv4-compatible loopback", "::127.0.0.1", false},
		{"IPv4-compatible loopback, hex", "::7f00:1", false},
		{"IPv4-compatible private", "::10.0.0.1", false},
		{"IPv4-compatible metadata", "::169.254.169.254", false},
		{"IPv4-compatible public (deprecated form)", "::8.8.8.8", false},
		{"IPv4-mapped loopback", "::ffff:127.0.0.1", false},
		{"IPv4-mapped loopback, hex", "::ffff:7f00:1", false},
		{"IPv4-mapped private", "::ffff:192.168.1.1", false},
		{"IPv4-mapped public", "::ffff:8.8.8.8", true},
		{"IPv4-translated loopback", "::ffff:0:7f00:1", false},
		{"IPv4-translated loopback, dotted", "::ffff:0:127.0.0.1", false},
		{"IPv4-translated public", "::ffff:0:8.8.8.8", false},
		{"NAT64 loopback", "64:ff9b::127.0.0.1", false},
		{"NAT64 loopback, hex", "64:ff9b::7f00:1", false},
		{"NAT64 private", "64:ff9b::10.1.2.3", false},
		{"NAT64 metadata", "64:ff9b::169.254.169.254", false},
		{"NAT64 CGNAT", "64:ff9b::100.64.0.1", false},
		{"NAT64 unspecified", "64:ff9b::", false},
		{"NAT64 public (DNS64)", "64:ff9b::8.8.8.8", true},
		{"NAT64 outside the /96", "64:ff9b:0:0:1::808:808", false},
		{"local-use NAT64 loopback", "64:ff9b:1::7f00:1", false},
		{"local-use NAT64 public", "64:ff9b:1:808:8:800::", false},
		{"6to4 loopback", "2002:7f00:1::", false},
		{"6to4 private", "2002:a00:1::1", false},
		{"6to4 metadata", "2002:a9fe:a9fe::1", false},
		{"6to4 public", "2002:808:808::1", false},
		{"Teredo", "2001:0:4136:e378:8000:63bf:3fff:fdd2", false},
		{"Teredo, loopback server", "2001:0:7f00:1::1", false},
		{"reserved ::/8", "::1:2:3:4", false},
		{"discard-only", "100::1", false},
		{"global unicast", "2606:4700:4700::1111", true},
		{"global unicast, zoned", "2606:4700:4700::1111%eth0", false},
	} {
		if got := safehttp.IsPublic(netip.MustParseAddr(c.addr)); got != c.public {
			t.Errorf("%s: IsPublic(%s) = %v, want %v", c.name, c.addr, got, c.public)
		}
	}
}

// The same forms as IP literals in a URL are refused by CheckURL, and by
// the dial-time check when a client is sent there directly. Neither
// reaches the listening victim.
func TestClient_RefusesIPv4EmbeddingLiterals(t *testing.T) {
	t.Parallel()
	v, hits := victim(t)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(v.URL, "http://"))
	c, err := safehttp.New(safehttp.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{"[::127.0.0.1]", "[::7f00:1]", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "[::ffff:0:7f00:1]",
		"[::ffff:0:127.0.0.1]", "[64:ff9b::127.0.0.1]", "[64:ff9b::7f00:1]", "[64:ff9b:1::7f00:1]", "[2002:7f00:1::1]",
		"[2001:0:7f00:1::1]"} {
		u := "http://" + host + ":" + port + "/"
		if _, err := c.Policy.CheckURL(u); !safehttp.IsBlocked(err) {
			t.Errorf("CheckURL(%s) = %v, want a refusal", u, err)
		}
		res, err := c.Get(u)
		if err == nil {
			res.Body.Close()
			t.Errorf("GET %s succeeded (status %d)", u, res.StatusCode)
			continue
		}
		if !safehttp.IsBlocked(err) {
			t.Errorf("GET %s: %v, want a refusal", u, err)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the victim was reached %d times", n)
	}
}
