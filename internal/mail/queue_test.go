package mail

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river/rivertype"

	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/db/dbtest"
	"github.com/switchboard/switchboard/internal/jobs"
	"github.com/switchboard/switchboard/internal/secret"
)

// recordingSender delivers into memory; fail, when set, decides the fate of
// the n-th call (1-based) before it is delivered.
type recordingSender struct {
	mu    sync.Mutex
	calls int
	sent  []Message
	fail  func(n int) error
}

func (s *recordingSender) Send(_ context.Context, m Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.fail != nil {
		if err := s.fail(s.calls); err != nil {
			return err
		}
	}
	s.sent = append(s.sent, m)
	return nil
}

func (s *recordingSender) snapshot() (calls int, sent []Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls, append([]Message(nil), s.sent...)
}

// startQueue runs a mail queue with job workers on d, delivering to s.
func startQueue(t *testing.T, d *db.DB, s Sender) (*Queue, *jobs.Runner) {
	t.Helper()
	ctx := context.Background()
	if err := jobs.Migrate(ctx, d); err != nil {
		t.Fatal(err)
	}
	k, err := secret.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	kr, err := secret.NewKeyring(k)
	if err != nil {
		t.Fatal(err)
	}
	r := jobs.NewRunner(d, jobs.Config{Work: true, FetchPollInterval: 20 * time.Millisecond})
	q := NewQueue(r, kr, s, nil)
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
	return q, r
}

func enqueue(t *testing.T, d *db.DB, q *Queue, m Message) {
	t.Helper()
	ctx := context.Background()
	if err := d.Tx(ctx, func(tx *db.Tx) error { return q.Enqueue(ctx, tx, m) }); err != nil {
		t.Fatal(err)
	}
}

// waitJob waits up to 15 s for the only mail job to reach a final state.
func waitJob(t *testing.T, d *db.DB, r *jobs.Runner) *rivertype.JobRow {
	t.Helper()
	ctx := context.Background()
	var id int64
	if err := d.Read().QueryRowContext(ctx, `SELECT id FROM river_job WHERE kind = $1`, SendKind).Scan(&id); err != nil {
		t.Fatalf("find the mail job: %v", err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		row, err := r.Client.JobGet(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		switch row.State {
		case rivertype.JobStateCompleted, rivertype.JobStateCancelled, rivertype.JobStateDiscarded:
			return row
		}
		if time.Now().After(deadline) {
			t.Fatalf("mail job still %s after attempt %d", row.State, row.Attempt)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var letter = Message{To: "ann@example.com", Subject: "Reset your password",
	Text: "open https://x.test/reset?token=tok-123456 within the hour"}

func TestQueue_DeliversOnlyWhatACommittedTransactionQueued(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		t.Parallel()
		s := &recordingSender{}
		q, r := startQueue(t, d, s)
		ctx := context.Background()
		rolledBack := errors.New("roll back")
		if err := d.Tx(ctx, func(tx *db.Tx) error {
			if err := q.Enqueue(ctx, tx, Message{To: "eve@example.com", Subject: "never", Text: "never"}); err != nil {
				t.Fatal(err)
			}
			return rolledBack
		}); !errors.Is(err, rolledBack) {
			t.Fatal(err)
		}
		enqueue(t, d, q, letter)
		if row := waitJob(t, d, r); row.State != rivertype.JobStateCompleted || row.Attempt != 1 {
			t.Fatalf("job %s after %d attempts", row.State, row.Attempt)
		}
		if _, sent := s.snapshot(); len(sent) != 1 || sent[0] != letter {
			t.Fatalf("sent %+v, want only %+v", sent, letter)
		}
	})
}

func TestQueue_RefusesAnUnsendableMessageInTheTransaction(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		q, _ := startQueue(t, d, &recordingSender{})
		ctx := context.Background()
		for _, m := range []Message{
			{To: "not an address", Subject: "x", Text: "x"},
			{To: "ann@example.com", Subject: "x\r\nBcc: eve@example.com", Text: "x"},
		} {
			err := d.Tx(ctx, func(tx *db.Tx) error { return q.Enqueue(ctx, tx, m) })
			if !IsPermanent(err) {
				t.Errorf("%+v: enqueue error %v, want a permanent one", m, err)
			}
		}
	})
}

func TestQueue_RetriesATemporaryFailureThenDelivers(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		t.Parallel()
		s := &recordingSender{fail: func(n int) error {
			if n == 1 {
				return errors.New("smtp dial 127.0.0.1:25: connection refused")
			}
			return nil
		}}
		q, r := startQueue(t, d, s)
		enqueue(t, d, q, letter)
		row := waitJob(t, d, r)
		if row.State != rivertype.JobStateCompleted || row.Attempt != 2 || row.MaxAttempts != MaxAttempts {
			t.Fatalf("job %s after %d of %d attempts, want completed after 2 of %d", row.State, row.Attempt, row.MaxAttempts, MaxAttempts)
		}
		calls, sent := s.snapshot()
		if calls != 2 || len(sent) != 1 || sent[0] != letter {
			t.Fatalf("%d calls, sent %+v", calls, sent)
		}
		if len(row.Errors) != 1 || !strings.Contains(row.Errors[0].Error, "connection refused") {
			t.Fatalf("recorded errors %+v", row.Errors)
		}
		if strings.Contains(row.Errors[0].Error, "tok-123456") {
			t.Fatalf("the recorded error carries the body: %+v", row.Errors)
		}
	})
}

func TestQueue_StopsAtAPermanentRefusal(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		t.Parallel()
		s := &recordingSender{fail: func(int) error {
			return &PermanentError{errors.New("smtp RCPT TO: 550 5.1.1 no such mailbox")}
		}}
		q, r := startQueue(t, d, s)
		enqueue(t, d, q, letter)
		row := waitJob(t, d, r)
		if row.State != rivertype.JobStateCancelled || row.Attempt != 1 {
			t.Fatalf("job %s after %d attempts, want cancelled after 1", row.State, row.Attempt)
		}
		if calls, _ := s.snapshot(); calls != 1 {
			t.Fatalf("sender called %d times", calls)
		}
	})
}
