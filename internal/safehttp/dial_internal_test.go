package safehttp

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
)

// fakeDNS answers every AAAA query with addr and every other query with no
// records, over UDP as a resolver speaks to a name server.
func fakeDNS(t *testing.T, addr netip.Addr) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 512)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			q := buf[:n]
			if len(q) < 12 {
				continue
			}
			// The question: a name (labels up to the zero byte), type, class.
			end := 12
			for end < len(q) && q[end] != 0 {
				end += int(q[end]) + 1
			}
			end += 5
			if end > len(q) {
				continue
			}
			qtype := binary.BigEndian.Uint16(q[end-4:])
			out := append([]byte(nil), q[:12]...)
			out[2], out[3] = 0x81, 0x80 // response, recursion desired and available, no error
			binary.BigEndian.PutUint16(out[4:], 1)
			binary.BigEndian.PutUint16(out[6:], 0)
			binary.BigEndian.PutUint16(out[8:], 0)
			binary.BigEndian.PutUint16(out[10:], 0)
			out = append(out, q[12:end]...)
			if qtype == 28 { // AAAA
				binary.BigEndian.PutUint16(out[6:], 1)
				out = append(out, 0xc0, 0x0c, 0, 28, 0, 1, 0, 0, 0, 60, 0, 16)
				a := addr.As16()
				out = append(out, a[:]...)
			}
			_, _ = pc.WriteTo(out, from)
		}
	}()
	return pc.LocalAddr().String()
}

// A host name whose DNS answer is an IPv6 spelling of an internal IPv4
// address is refused when the connection is about to be made: the dial
// check sees the resolved address, not the name.
func TestDialer_RefusesAAAAAnswersEmbeddingInternalIPv4(t *testing.T) {
	t.Parallel()
	pol, err := ParseAllow(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, answer := range []string{"::127.0.0.1", "::ffff:0:7f00:1", "::ffff:127.0.0.1", "64:ff9b::7f00:1",
		"64:ff9b::a9fe:a9fe", "2002:7f00:1::1", "::1", "fd00::1"} {
		server := fakeDNS(t, netip.MustParseAddr(answer))
		d := checkedDialer(pol)
		d.Resolver = &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var nd net.Dialer
			return nd.DialContext(ctx, "udp", server)
		}}
		conn, err := d.DialContext(context.Background(), "tcp", "internal.switchboard.test:80")
		if err == nil {
			conn.Close()
			t.Errorf("AAAA %s: dialled", answer)
			continue
		}
		if !errors.Is(err, ErrBlocked) || !strings.Contains(err.Error(), "not a public address") {
			t.Errorf("AAAA %s: %v, want a refusal", answer, err)
		}
	}
}
