package mail

import (
	"bufio"
	"context"
	"encoding/base64"
	"mime/quotedprintable"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeSMTP is a minimal SMTP server speaking RFC 5321 with AUTH PLAIN, enough
// to receive what net/smtp sends.
type fakeSMTP struct {
	ln net.Listener
	// rcptReply, when set, answers RCPT TO instead of "250 ok".
	rcptReply string
	mu        sync.Mutex
	auth      string
	from      string
	rcpt      []string
	data      string
}

func startFakeSMTP(t *testing.T) *fakeSMTP {
	t.Helper()
	return startFakeSMTPWith(t, &fakeSMTP{})
}

func startFakeSMTPWith(t *testing.T, f *fakeSMTP) *fakeSMTP {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.ln = ln
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go f.serve(c)
		}
	}()
	return f
}

func (f *fakeSMTP) serve(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	say := func(s string) { _, _ = c.Write([]byte(s + "\r\n")) }
	say("220 fake ESMTP")
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		cmd := strings.ToUpper(line)
		switch {
		case strings.HasPrefix(cmd, "EHLO"), strings.HasPrefix(cmd, "HELO"):
			say("250-fake")
			say("250 AUTH PLAIN")
		case strings.HasPrefix(cmd, "AUTH PLAIN"):
			raw, _ := base64.StdEncoding.DecodeString(strings.TrimSpace(line[len("AUTH PLAIN"):]))
			f.mu.Lock()
			f.auth = string(raw)
			f.mu.Unlock()
			say("235 ok")
		case strings.HasPrefix(cmd, "MAIL FROM:"):
			f.mu.Lock()
			f.from = line[len("MAIL FROM:"):]
			f.mu.Unlock()
			say("250 ok")
		case strings.HasPrefix(cmd, "RCPT TO:"):
			f.mu.Lock()
			f.rcpt = append(f.rcpt, line[len("RCPT TO:"):])
			f.mu.Unlock()
			if f.rcptReply != "" {
				say(f.rcptReply)
				continue
			}
			say("250 ok")
		case cmd == "DATA":
			say("354 go on")
			var b strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				b.WriteString(l)
			}
			f.mu.Lock()
			f.data = b.String()
			f.mu.Unlock()
			say("250 queued")
		case cmd == "QUIT":
			say("221 bye")
			return
		default:
			say("250 ok")
		}
	}
}

func TestSMTP_DeliversWithAuth(t *testing.T) {
	t.Parallel()
	f := startFakeSMTP(t)
	s, err := NewSMTP("smtp://mailer:s3cret@"+f.ln.Addr().String()+"?from=Switchboard%20%3Cno-reply@switchboard.test%3E", "ignored@x.test")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(context.Background(), Message{To: "ann@example.com", Subject: "Hello", Text: "line one\nlien deux — é"}); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.auth != "\x00mailer\x00s3cret" {
		t.Errorf("auth %q", f.auth)
	}
	if !strings.Contains(f.from, "no-reply@switchboard.test") || len(f.rcpt) != 1 || !strings.Contains(f.rcpt[0], "ann@example.com") {
		t.Errorf("envelope from %q rcpt %q", f.from, f.rcpt)
	}
	head, body, _ := strings.Cut(f.data, "\r\n\r\n")
	if !strings.Contains(head, "Subject: Hello") || !strings.Contains(head, "To: ann@example.com") {
		t.Errorf("headers: %s", head)
	}
	dec, _ := readQP(body)
	if !strings.Contains(dec, "lien deux — é") {
		t.Errorf("body: %q", dec)
	}
}

func TestSMTP_RefusalsAreFinalOnlyWhenTheServerSaysSo(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		reply     string
		permanent bool
	}{
		{"550 5.1.1 no such mailbox", true},
		{"554 5.7.1 refused by policy", true},
		{"451 4.7.1 greylisted, try again later", false},
		{"452 4.2.2 mailbox full", false},
	} {
		f := &fakeSMTP{rcptReply: c.reply}
		startFakeSMTPWith(t, f)
		s, err := NewSMTP("smtp://"+f.ln.Addr().String(), "no-reply@switchboard.test")
		if err != nil {
			t.Fatal(err)
		}
		err = s.Send(context.Background(), Message{To: "ann@example.com", Subject: "Hello", Text: "secret body"})
		if err == nil {
			t.Fatalf("%s: sent", c.reply)
		}
		if IsPermanent(err) != c.permanent {
			t.Errorf("%s: permanent %v, want %v (%v)", c.reply, IsPermanent(err), c.permanent, err)
		}
		if strings.Contains(err.Error(), "secret body") {
			t.Errorf("error carries the body: %v", err)
		}
	}
	// A server that cannot be reached may be back later.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s, _ := NewSMTP("smtp://"+addr, "no-reply@switchboard.test")
	if err := s.Send(context.Background(), Message{To: "ann@example.com", Subject: "x", Text: "x"}); err == nil || IsPermanent(err) {
		t.Errorf("unreachable server: %v, want a temporary error", err)
	}
	// A message that cannot be written is refused for good.
	if err := s.Send(context.Background(), Message{To: "not an address", Subject: "x", Text: "x"}); !IsPermanent(err) {
		t.Errorf("bad recipient: %v, want a permanent error", err)
	}
}

func TestSMTP_RejectsBadURLs(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"http://x", "smtp://", "::"} {
		if _, err := NewSMTP(u, "a@b.c"); err == nil {
			t.Errorf("%q accepted", u)
		}
	}
}

func TestOutbox_WritesWholeEMLFilesAndRefusesHeaderInjection(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	o, err := NewOutbox(dir, "Switchboard <no-reply@switchboard.test>")
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Send(context.Background(), Message{To: "ann@example.com", Subject: "Link", Text: "https://x.test/a?token=abc"}); err != nil {
		t.Fatal(err)
	}
	if err := o.Send(context.Background(), Message{To: "ann@example.com\r\nBcc: eve@example.com", Subject: "x", Text: "x"}); err == nil {
		t.Error("header injection in To accepted")
	}
	if err := o.Send(context.Background(), Message{To: "ann@example.com", Subject: "x\r\nBcc: eve@example.com", Text: "x"}); err == nil {
		t.Error("header injection in Subject accepted")
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.eml"))
	if len(files) != 1 {
		t.Fatalf("%d files", len(files))
	}
	raw, _ := os.ReadFile(files[0])
	if !strings.Contains(string(raw), "https://x.test/a?token=3Dabc") && !strings.Contains(string(raw), "token=abc") {
		t.Errorf("link missing: %s", raw)
	}
}

func readQP(s string) (string, error) {
	var b strings.Builder
	_, err := bufio.NewReader(quotedprintable.NewReader(strings.NewReader(s))).WriteTo(&b)
	return b.String(), err
}
