package safehttp_test

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/switchboard/switchboard/internal/safehttp"
)

func TestIsPublic(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		addr   string
		public bool
	}{
		{"8.8.8.8", true}, {"1.1.1.1", true}, {"2606:4700:4700::1111", true},
		{"127.0.0.1", false}, {"127.8.9.10", false}, {"::1", false}, {"10.1.2.3", false}, {"172.16.0.1", false},
		{"172.31.255.255", false}, {"192.168.0.10", false}, {"169.254.169.254", false}, {"100.64.0.1", false},
		{"100.127.255.254", false}, {"fc00::1", false}, {"fd12:3456::1", false}, {"fe80::1", false},
		{"224.0.0.1", false}, {"ff02::1", false}, {"0.0.0.0", false}, {"::", false}, {"::ffff:127.0.0.1", false},
		{"::ffff:10.0.0.1", false}, {"::ffff:169.254.169.254", false}, {"64:ff9b::7f00:1", false},
		{"255.255.255.255", false}, {"192.0.2.1", false}, {"2002:7f00:1::", false},
	} {
		if got := safehttp.IsPublic(netip.MustParseAddr(c.addr)); got != c.public {
			t.Errorf("IsPublic(%s) = %v, want %v", c.addr, got, c.public)
		}
	}
}

// victim is a live local server: a refused request must never reach it.
func victim(t *testing.T) (*httptest.Server, *atomic.Int32) {
	var hits atomic.Int32
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		io.WriteString(w, "secret internal data")
	}))
	t.Cleanup(s.Close)
	return s, &hits
}

func TestClient_RefusesInternalDestinations(t *testing.T) {
	t.Parallel()
	v, hits := victim(t)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(v.URL, "http://"))
	// The allow-list lets the redirector through, not what it points at.
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, v.URL+"/after-redirect", http.StatusFound)
	}))
	t.Cleanup(redirector.Close)
	c, err := safehttp.New(safehttp.Options{Allow: []string{strings.TrimPrefix(redirector.URL, "http://")}})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{
		v.URL, "http://127.0.0.1:" + port, "http://[::1]:" + port, "http://localhost:" + port, "http://10.0.0.1:" + port,
		"http://169.254.169.254/latest/meta-data/", "http://[::ffff:127.0.0.1]:" + port, "http://0.0.0.0:" + port,
		"http://100.64.0.1/", "http://[fd00::1]/", redirector.URL + "/start",
	} {
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
	for _, u := range []string{"ftp://example.com/", "file:///etc/passwd", "gopher://x/"} {
		if res, err := c.Get(u); err == nil {
			res.Body.Close()
			t.Errorf("GET %s succeeded", u)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the victim was reached %d times", n)
	}
}

func TestClient_AllowListAndSizeCap(t *testing.T) {
	t.Parallel()
	big := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(strings.Repeat("a", 4096)))
	}))
	t.Cleanup(big.Close)
	host := strings.TrimPrefix(big.URL, "http://")
	for _, allow := range []string{host, "127.0.0.0/8", "127.0.0.1"} {
		c, err := safehttp.New(safehttp.Options{Allow: []string{allow}, MaxResponseBytes: 1024})
		if err != nil {
			t.Fatal(err)
		}
		res, err := c.Get(big.URL)
		if err != nil {
			t.Fatalf("allow %s: %v", allow, err)
		}
		_, err = io.ReadAll(res.Body)
		res.Body.Close()
		if !errors.Is(err, safehttp.ErrTooLarge) {
			t.Errorf("allow %s: 4 KiB body under a 1 KiB cap read with %v", allow, err)
		}
	}
	if _, err := safehttp.ParseAllow([]string{"not a/valid entry"}); err == nil {
		t.Error("bad allow-list entry accepted")
	}
	pol, _ := safehttp.ParseAllow(nil)
	for _, u := range []string{"http://10.0.0.1/", "https://[::1]/", "http://169.254.169.254/"} {
		if _, err := pol.CheckURL(u); !safehttp.IsBlocked(err) {
			t.Errorf("CheckURL(%s) = %v", u, err)
		}
	}
	if _, err := pol.CheckURL("https://hooks.example.com/in"); err != nil {
		t.Errorf("public URL refused: %v", err)
	}
}
