package auth

import (
	"context"
	"io"
	"mime/quotedprintable"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/jobs"
	"github.com/switchboard/switchboard/internal/mail"
	"github.com/switchboard/switchboard/internal/secret"
)

// testMailer is the real mail path on a test database: sealed mail jobs
// and, when it works jobs, delivery into an outbox folder.
type testMailer struct {
	queue  *mail.Queue
	outbox string
}

func newTestMailer(t *testing.T, d *db.DB, work bool) testMailer {
	t.Helper()
	ctx := context.Background()
	if err := jobs.Migrate(ctx, d); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	out, err := mail.NewOutbox(dir, "Switchboard <no-reply@switchboard.test>")
	if err != nil {
		t.Fatal(err)
	}
	keys, err := secret.Load("", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	r := jobs.NewRunner(d, jobs.Config{Work: work, FetchPollInterval: 20 * time.Millisecond})
	q := mail.NewQueue(r, keys, out, nil)
	if err := r.Open(); err != nil {
		t.Fatal(err)
	}
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = r.Stop(sctx)
	})
	return testMailer{queue: q, outbox: dir}
}

// wait returns the decoded body of the first mail whose subject contains
// subject, waiting up to 10 s for it.
func (m testMailer) wait(t *testing.T, subject string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		names, _ := filepath.Glob(filepath.Join(m.outbox, "*.eml"))
		sort.Strings(names)
		for _, n := range names {
			raw, err := os.ReadFile(n)
			if err != nil {
				continue
			}
			head, body, _ := strings.Cut(string(raw), "\r\n\r\n")
			_, subj, _ := strings.Cut(head, "\r\nSubject: ")
			if subj, _, _ = strings.Cut(subj, "\r\n"); !strings.Contains(subj, subject) {
				continue
			}
			dec, err := io.ReadAll(quotedprintable.NewReader(strings.NewReader(body)))
			if err != nil {
				t.Fatalf("decode %s: %v", n, err)
			}
			return string(dec)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no mail about %q", subject)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

var bareToken = regexp.MustCompile(`(?m)^([A-Za-z0-9_-]{40,})\r?$`)

// tokenIn extracts the bare token line of a mailed link.
func tokenIn(t *testing.T, body string) string {
	t.Helper()
	m := bareToken.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no token in mail: %s", body)
	}
	return m[1]
}
