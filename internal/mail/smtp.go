package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/smtp"
	"net/textproto"
	"net/url"
	"strings"
	"time"
)

// SMTP sends through an SMTP server given as a URL:
// smtp://user:pass@host:587 (STARTTLS when offered) or smtps://…:465
// (implicit TLS). The sender comes from the URL's "from" query value.
type SMTP struct {
	addr     string
	host     string
	implicit bool
	auth     smtp.Auth
	from     string
}

// NewSMTP parses an SMTP URL.
func NewSMTP(raw, defaultFrom string) (*SMTP, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("smtp url: %w", err)
	}
	if u.Scheme != "smtp" && u.Scheme != "smtps" {
		return nil, fmt.Errorf("smtp url: scheme must be smtp or smtps, got %q", u.Scheme)
	}
	host := u.Hostname()
	if host == "" {
		return nil, fmt.Errorf("smtp url: missing host")
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"smtp": "587", "smtps": "465"}[u.Scheme]
	}
	s := &SMTP{addr: net.JoinHostPort(host, port), host: host, implicit: u.Scheme == "smtps", from: defaultFrom}
	if f := u.Query().Get("from"); f != "" {
		s.from = f
	}
	if u.User != nil {
		pass, _ := u.User.Password()
		s.auth = smtp.PlainAuth("", u.User.Username(), pass, host)
	}
	return s, nil
}

// Send delivers m, honouring ctx's deadline (30 s if it has none).
func (s *SMTP) Send(ctx context.Context, m Message) error {
	raw, err := render(s.from, m, time.Now().UTC())
	if err != nil {
		return err
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(30 * time.Second)
	}
	d := net.Dialer{Deadline: deadline}
	var conn net.Conn
	if s.implicit {
		conn, err = (&tls.Dialer{NetDialer: &d, Config: &tls.Config{ServerName: s.host}}).DialContext(ctx, "tcp", s.addr)
	} else {
		conn, err = d.DialContext(ctx, "tcp", s.addr)
	}
	if err != nil {
		return fmt.Errorf("smtp dial %s: %w", s.addr, err)
	}
	_ = conn.SetDeadline(deadline)
	c, err := smtp.NewClient(conn, s.host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("smtp hello: %w", err)
	}
	defer c.Close()
	if !s.implicit {
		if ok, _ := c.Extension("STARTTLS"); ok {
			if err := c.StartTLS(&tls.Config{ServerName: s.host}); err != nil {
				return fmt.Errorf("smtp starttls: %w", err)
			}
		}
	}
	if s.auth != nil {
		if err := c.Auth(s.auth); err != nil {
			return fmt.Errorf("smtp auth: %w", err)
		}
	}
	if err := c.Mail(bareAddress(s.from)); err != nil {
		// A refused sender is this node's configuration, not the message.
		return fmt.Errorf("smtp MAIL FROM: %w", err)
	}
	if err := c.Rcpt(bareAddress(m.To)); err != nil {
		return fmt.Errorf("smtp RCPT TO: %w", refused(err))
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("smtp DATA: %w", refused(err))
	}
	if _, err := w.Write(raw); err != nil {
		return fmt.Errorf("smtp write: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("smtp end of data: %w", refused(err))
	}
	// The server has taken the message; a failed goodbye must not make the
	// caller send it again.
	_ = c.Quit()
	return nil
}

// refused marks a 5xx reply to the message's own commands (recipient, data)
// as permanent: the server will refuse this message again (unknown mailbox,
// policy). A 4xx reply, a broken connection, a failed AUTH or a refused
// sender (configuration an operator can fix) stays temporary.
func refused(err error) error {
	var reply *textproto.Error
	if errors.As(err, &reply) && reply.Code >= 500 && reply.Code < 600 {
		return &PermanentError{err}
	}
	return err
}

func bareAddress(a string) string {
	if i := strings.LastIndexByte(a, '<'); i >= 0 {
		return strings.TrimSuffix(a[i+1:], ">")
	}
	return a
}
