// Package safehttp is the one outbound HTTP client for URLs Switchboard
// does not control: webhook targets, provider APIs, and later HTTP plugins
// and workflow steps. It refuses to reach private, loopback, link-local and
// other non-public addresses.
//
// The check runs where it cannot be fooled: at dial time, on the IP address
// the connection is about to use (a net.Dialer Control function), after DNS
// resolution. A hostname that resolves to 127.0.0.1, a DNS answer that
// changes between a check and the dial (rebinding), an IPv6 spelling of an
// internal IPv4 address (IPv4-mapped ::ffff:127.0.0.1, IPv4-compatible
// ::127.0.0.1, IPv4-translated ::ffff:0:7f00:1, NAT64 64:ff9b::7f00:1,
// 6to4, Teredo) and a redirect to an internal address all meet the same
// check.
//
// Operators can allow specific non-public destinations (a private
// deployment's own services, or local fakes in tests) with an allow-list of
// CIDR prefixes, IP:port pairs, hosts or host:port pairs.
package safehttp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/switchboard/switchboard/internal/telemetry"
)

// ErrBlocked is returned (wrapped) for a destination the client refuses.
var ErrBlocked = errors.New("safehttp: destination not allowed")

// ErrTooLarge is returned by a response body that exceeds the size cap.
var ErrTooLarge = errors.New("safehttp: response body too large")

// Options configure a Client. The zero value is safe.
type Options struct {
	// Allow lists destinations allowed despite being non-public: CIDR
	// prefixes ("10.1.0.0/16"), addresses ("127.0.0.1"), address:port
	// ("127.0.0.1:8081", "[::1]:9000"), host names ("hooks.internal") or
	// host:port. A host name entry matches the name in the URL, not what it
	// resolves to.
	Allow []string
	// Timeout bounds a whole request, body included (default 15 s).
	Timeout time.Duration
	// MaxResponseBytes caps a response body; reading past it fails with
	// ErrTooLarge (default 1 MiB).
	MaxResponseBytes int64
	// MaxRedirects bounds followed redirects (default 5).
	MaxRedirects int
}

// Policy decides which destinations are allowed.
type Policy struct {
	prefixes  []netip.Prefix
	addrPorts map[netip.AddrPort]bool
	hosts     map[string]bool // "name" or "name:port"
}

// ParseAllow parses allow-list entries, naming the first bad one.
func ParseAllow(entries []string) (*Policy, error) {
	p := &Policy{addrPorts: map[netip.AddrPort]bool{}, hosts: map[string]bool{}}
	for _, raw := range entries {
		e := strings.TrimSpace(raw)
		if e == "" {
			continue
		}
		if pf, err := netip.ParsePrefix(e); err == nil {
			p.prefixes = append(p.prefixes, pf.Masked())
			continue
		}
		if a, err := netip.ParseAddr(e); err == nil {
			p.prefixes = append(p.prefixes, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		if ap, err := netip.ParseAddrPort(e); err == nil {
			p.addrPorts[netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())] = true
			continue
		}
		host := e
		if h, port, err := net.SplitHostPort(e); err == nil {
			if port == "" || h == "" {
				return nil, fmt.Errorf("allow-list entry %q is not a CIDR, address, host or host:port", raw)
			}
			host = h
		}
		if strings.ContainsAny(host, "/ @?#") {
			return nil, fmt.Errorf("allow-list entry %q is not a CIDR, address, host or host:port", raw)
		}
		p.hosts[strings.ToLower(e)] = true
	}
	return p, nil
}

// allowedHost reports whether the URL host (name or name:port) is
// allow-listed by name.
func (p *Policy) allowedHost(hostport string) bool {
	if p == nil || len(p.hosts) == 0 {
		return false
	}
	hostport = strings.ToLower(hostport)
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	return p.hosts[hostport] || p.hosts[host]
}

// AllowedAddr reports whether a connection to ap may be made.
func (p *Policy) AllowedAddr(ap netip.AddrPort) bool {
	a := ap.Addr().Unmap()
	if p != nil {
		if p.addrPorts[netip.AddrPortFrom(a, ap.Port())] {
			return true
		}
		for _, pf := range p.prefixes {
			if pf.Contains(a) {
				return true
			}
		}
	}
	return IsPublic(a)
}

// blocked lists the non-public ranges beyond what netip's predicates cover.
var blocked = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8",       // "this network"
		"100.64.0.0/10",   // carrier-grade NAT
		"192.0.0.0/24",    // IETF protocol assignments
		"192.0.2.0/24",    // TEST-NET-1
		"198.18.0.0/15",   // benchmarking
		"198.51.100.0/24", // TEST-NET-2
		"203.0.113.0/24",  // TEST-NET-3
		"240.0.0.0/4",     // reserved, broadcast
		// Local-use NAT64: where the IPv4 address sits depends on the
		// prefix length the operator chose, so it cannot be judged.
		"64:ff9b:1::/48",
		"100::/64",      // discard-only
		"2001:db8::/32", // documentation
		// 6to4 and Teredo embed an arbitrary IPv4 address (Teredo's
		// obfuscated) reached through relays; both are deprecated (RFC
		// 7526), so refusing them whole costs nothing.
		"2002::/16",
		"2001::/32",
		"fec0::/10", // deprecated site-local
	} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

// globalUnicast6 is the only IPv6 space IANA allocates for global
// unicast. Everything outside it is special: among others the
// IPv4-compatible ::a.b.c.d (::/96) and IPv4-translated ::ffff:0:a.b.c.d
// (::ffff:0:0/96) forms, which netip does not unmap and which some stacks
// route to the embedded IPv4 address — [::127.0.0.1] must not pass as
// public.
var globalUnicast6 = netip.MustParsePrefix("2000::/3")

// nat64 is the well-known NAT64 prefix (RFC 6052): 64:ff9b::a.b.c.d
// reaches the IPv4 address a.b.c.d through a translator. DNS64 resolvers
// (IPv6-only networks, some clouds) answer with such addresses for every
// IPv4-only host, so they are judged by the IPv4 address they embed.
var nat64 = netip.MustParsePrefix("64:ff9b::/96")

// IsPublic reports whether a is a globally routable unicast address:
// not loopback, private (RFC 1918, IPv6 ULA fc00::/7), link-local
// (169.254/16 — cloud metadata — and fe80::/10), CGNAT, multicast,
// unspecified, or reserved. IPv4-mapped IPv6 addresses, and NAT64
// addresses of the well-known prefix, are judged by the IPv4 address they
// embed; other IPv6 addresses must lie in 2000::/3.
func IsPublic(a netip.Addr) bool {
	a = a.Unmap()
	if a.Is6() && a.Zone() == "" && nat64.Contains(a) {
		b := a.As16()
		return IsPublic(netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}))
	}
	if a.Is6() && !globalUnicast6.Contains(a) {
		return false
	}
	if !a.IsValid() || a.IsUnspecified() || a.IsLoopback() || a.IsPrivate() ||
		a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() || a.IsInterfaceLocalMulticast() ||
		a.IsMulticast() || !a.IsGlobalUnicast() {
		return false
	}
	if a.Zone() != "" {
		return false
	}
	for _, pf := range blocked {
		if pf.Contains(a) {
			return false
		}
	}
	return true
}

// CheckURL validates a user-supplied URL before it is stored: absolute,
// http or https, a host, no user info, and — when the host is an IP
// literal — an allowed address. Host names are checked again at dial time.
func (p *Policy) CheckURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: not a URL", ErrBlocked)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("%w: scheme must be http or https", ErrBlocked)
	}
	if u.Host == "" || u.Hostname() == "" {
		return nil, fmt.Errorf("%w: URL needs a host", ErrBlocked)
	}
	if u.User != nil {
		return nil, fmt.Errorf("%w: URL must not carry user info", ErrBlocked)
	}
	if p.allowedHost(u.Host) {
		return u, nil
	}
	if a, err := netip.ParseAddr(strings.Trim(u.Hostname(), "[]")); err == nil {
		port := u.Port()
		if port == "" {
			port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
		}
		ap, err := netip.ParseAddrPort(net.JoinHostPort(a.String(), port))
		if err != nil || !p.AllowedAddr(ap) {
			return nil, fmt.Errorf("%w: %s is not a public address", ErrBlocked, a)
		}
	}
	return u, nil
}

// Client is an *http.Client that enforces a Policy.
type Client struct {
	*http.Client
	Policy *Policy
}

// New builds a client.
func New(opt Options) (*Client, error) {
	pol, err := ParseAllow(opt.Allow)
	if err != nil {
		return nil, err
	}
	if opt.Timeout <= 0 {
		opt.Timeout = 15 * time.Second
	}
	if opt.MaxResponseBytes <= 0 {
		opt.MaxResponseBytes = 1 << 20
	}
	if opt.MaxRedirects <= 0 {
		opt.MaxRedirects = 5
	}
	checked := checkedDialer(pol)
	plain := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		// Never through an environment proxy: the proxy would make the
		// connection, and the check would see only the proxy's address.
		Proxy: nil,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if pol.allowedHost(addr) {
				return plain.DialContext(ctx, network, addr)
			}
			return checked.DialContext(ctx, network, addr)
		},
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   10,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: opt.Timeout,
		ExpectContinueTimeout: time.Second,
	}
	hc := &http.Client{
		Timeout:   opt.Timeout,
		Transport: &capTransport{next: tr, max: opt.MaxResponseBytes},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= opt.MaxRedirects {
				return fmt.Errorf("%w: more than %d redirects", ErrBlocked, opt.MaxRedirects)
			}
			// The dial check covers the address; this refuses other schemes
			// and IP literals early with a clear message.
			if _, err := pol.CheckURL(req.URL.String()); err != nil {
				return err
			}
			return nil
		},
	}
	return &Client{Client: hc, Policy: pol}, nil
}

// checkedDialer dials only addresses pol allows. The check runs on the
// address about to be connected, after DNS resolution: every A and AAAA
// answer meets it, however it is spelled.
func checkedDialer(pol *Policy) *net.Dialer {
	return &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second,
		Control: func(network, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("%w: cannot parse %s", ErrBlocked, address)
			}
			if !pol.AllowedAddr(ap) {
				return fmt.Errorf("%w: %s is not a public address", ErrBlocked, ap.Addr().Unmap())
			}
			return nil
		}}
}

// IsBlocked reports whether err is (or wraps) a refusal by this package.
func IsBlocked(err error) bool { return errors.Is(err, ErrBlocked) }

// capTransport caps every response body.
type capTransport struct {
	next http.RoundTripper
	max  int64
}

func (t *capTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	// Each call is a client span of the trace it is made in (the node's
	// tracer provider, set globally when tracing is on), and carries the
	// trace context on as traceparent.
	ctx, span := otel.Tracer("github.com/switchboard/switchboard/safehttp").Start(req.Context(), "HTTP "+req.Method,
		trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attribute.String("http.request.method", req.Method),
			attribute.String("server.address", req.URL.Hostname())))
	defer span.End()
	if trace.SpanContextFromContext(ctx).IsValid() {
		req = req.Clone(ctx)
		telemetry.InjectHTTP(ctx, req.Header)
	}
	res, err := t.next.RoundTrip(req)
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
		return nil, err
	}
	span.SetAttributes(attribute.Int("http.response.status_code", res.StatusCode))
	if res.ContentLength > t.max {
		res.Body.Close()
		return nil, fmt.Errorf("%w: %d bytes announced, limit %d", ErrTooLarge, res.ContentLength, t.max)
	}
	res.Body = &cappedBody{rc: res.Body, left: t.max}
	return res, nil
}

type cappedBody struct {
	rc   io.ReadCloser
	left int64
}

func (b *cappedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// One byte more tells a body at the limit from one over it.
		var one [1]byte
		n, err := b.rc.Read(one[:])
		if n > 0 {
			return 0, ErrTooLarge
		}
		return 0, err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *cappedBody) Close() error { return b.rc.Close() }
