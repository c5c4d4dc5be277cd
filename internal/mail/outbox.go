package mail

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"
)

// Outbox writes each message as an .eml file in a folder.
type Outbox struct {
	Dir  string
	From string
	seq  atomic.Int64
}

// NewOutbox returns an outbox writing into dir, creating it if needed.
func NewOutbox(dir, from string) (*Outbox, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("mail outbox %s: %w", dir, err)
	}
	return &Outbox{Dir: dir, From: from}, nil
}

// Send writes m to a new file named by time and recipient.
func (o *Outbox) Send(ctx context.Context, m Message) error {
	now := time.Now().UTC()
	raw, err := render(o.From, m, now)
	if err != nil {
		return err
	}
	safe := strings.Map(func(r rune) rune {
		if r == '@' || r == '.' || r == '-' || r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') {
			return r
		}
		return '_'
	}, m.To)
	name := fmt.Sprintf("%s-%04d-%s.eml", now.Format("20060102T150405.000000000"), o.seq.Add(1)%10000, safe)
	tmp := filepath.Join(o.Dir, "."+name+".tmp")
	if err := os.WriteFile(tmp, raw, 0o600); err != nil {
		return fmt.Errorf("mail outbox: %w", err)
	}
	// Rename makes the file appear whole to anyone watching the folder.
	if err := os.Rename(tmp, filepath.Join(o.Dir, name)); err != nil {
		return fmt.Errorf("mail outbox: %w", err)
	}
	return nil
}
