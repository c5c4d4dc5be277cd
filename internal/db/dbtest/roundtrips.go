package dbtest

import (
	"encoding/binary"
	"io"
	"net"
	"net/url"
	"sync/atomic"
	"testing"
)

// RoundTrips returns a URL that reaches the PostgreSQL server of rawURL
// through a proxy counting the round trips its clients make: every Query
// message (simple protocol: BEGIN, COMMIT) and every Sync (the end of an
// extended-protocol statement) waits for the server's answer, so the count
// is what each operation costs in network latency. The proxy speaks
// plain TCP (the URL gets sslmode=disable) and stops with the test.
func RoundTrips(t testing.TB, rawURL string) (string, *atomic.Int64) {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatalf("parse %s: %v", rawURL, err)
	}
	server := u.Host
	if u.Port() == "" {
		server = net.JoinHostPort(u.Hostname(), "5432")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	t.Cleanup(func() { ln.Close() })
	var n atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go countingPipe(c, server, &n)
		}
	}()
	u.Host = ln.Addr().String()
	q := u.Query()
	q.Set("sslmode", "disable")
	u.RawQuery = q.Encode()
	return u.String(), &n
}

// countingPipe forwards client c to server, counting the client's Query
// and Sync messages in n.
func countingPipe(c net.Conn, server string, n *atomic.Int64) {
	defer c.Close()
	s, err := net.Dial("tcp", server)
	if err != nil {
		return
	}
	defer s.Close()
	go func() {
		_, _ = io.Copy(c, s)
		c.Close()
	}()
	// The startup message has no type byte: a length, then the rest.
	var size [4]byte
	if _, err := io.ReadFull(c, size[:]); err != nil {
		return
	}
	if _, err := s.Write(size[:]); err != nil {
		return
	}
	if _, err := io.CopyN(s, c, int64(binary.BigEndian.Uint32(size[:]))-4); err != nil {
		return
	}
	for {
		var head [5]byte
		if _, err := io.ReadFull(c, head[:]); err != nil {
			return
		}
		if head[0] == 'Q' || head[0] == 'S' {
			n.Add(1)
		}
		if _, err := s.Write(head[:]); err != nil {
			return
		}
		if _, err := io.CopyN(s, c, int64(binary.BigEndian.Uint32(head[1:]))-4); err != nil {
			return
		}
	}
}
