package mail

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"

	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/jobs"
	"github.com/switchboard/switchboard/internal/secret"
)

// SendKind is the job kind that delivers one mail.
const SendKind = "mail.send"

// MaxAttempts bounds the tries of one mail. River waits attempt⁴ seconds
// (with jitter) after each failure, so eight attempts span about 80 minutes:
// long enough to ride out a mail server's restart or a greylisting delay,
// short enough that a reset link (valid one hour) is not mailed after it
// has expired by much.
const MaxAttempts = 8

// sendTimeout bounds one attempt.
const sendTimeout = time.Minute

// sendArgs is a mail job's whole input: the message, sealed, because its
// body holds single-use links (password reset, verification, invitation)
// that must never sit in clear in the job table.
type sendArgs struct{ jobs.SealedArgs }

func (sendArgs) Kind() string { return SendKind }

func (sendArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: jobs.QueueDefault, MaxAttempts: MaxAttempts}
}

// Queue sends mail through durable jobs. Enqueue adds a job to the caller's
// transaction, so a mail exists exactly when the change that causes it
// commits, and survives a crash right after the commit. A node with job
// workers then delivers it through its Sender at least once: a mail whose
// sending succeeded but whose job was not marked done (a crash in between)
// is sent again. Temporary failures are retried with River's backoff up to
// MaxAttempts; a permanent one (IsPermanent: a 5xx reply to the recipient or
// the data, a malformed message) ends the job at once. Neither the message
// nor its body is ever logged.
type Queue struct {
	jobs *jobs.Runner
	keys *secret.Keyring
}

// NewQueue registers the mail worker on r (before r.Open) and returns the
// queue. Messages are sealed with keys; every node that works jobs must
// hold the keys they were sealed under.
func NewQueue(r *jobs.Runner, keys *secret.Keyring, s Sender, log *slog.Logger) *Queue {
	if log == nil {
		log = slog.Default()
	}
	river.AddWorker(r.Workers(), &sendWorker{keys: keys, sender: s, log: log})
	return &Queue{jobs: r, keys: keys}
}

// Enqueue schedules m for delivery once tx commits. A message that can
// never be sent (bad recipient, line breaks in a header) is refused here,
// failing the transaction, rather than in the job.
func (q *Queue) Enqueue(ctx context.Context, tx *db.Tx, m Message) error {
	if err := m.check(); err != nil {
		return err
	}
	args, err := jobs.SealArgs(q.keys, SendKind, m)
	if err != nil {
		return fmt.Errorf("enqueue mail: %w", err)
	}
	if _, err := q.jobs.InsertTx(ctx, tx, sendArgs{args}, nil); err != nil {
		return fmt.Errorf("enqueue mail: %w", err)
	}
	return nil
}

type sendWorker struct {
	river.WorkerDefaults[sendArgs]
	keys   *secret.Keyring
	sender Sender
	log    *slog.Logger
}

func (w *sendWorker) Timeout(*river.Job[sendArgs]) time.Duration { return sendTimeout }

func (w *sendWorker) Work(ctx context.Context, job *river.Job[sendArgs]) error {
	var m Message
	if err := job.Args.Open(w.keys, SendKind, &m); err != nil {
		if errors.Is(err, secret.ErrMissingKey) {
			// Another node may have sealed it under a key this node has
			// not loaded yet; a later attempt (here or there) may open it.
			return err
		}
		w.log.Error("mail job cannot be opened; dropping it", "job", job.ID, "error", err)
		return river.JobCancel(err)
	}
	err := w.sender.Send(ctx, m)
	switch {
	case err == nil:
		return nil
	case IsPermanent(err):
		w.log.Error("mail refused for good; not retrying", "job", job.ID, "attempt", job.Attempt, "error", err)
		return river.JobCancel(err)
	case job.Attempt >= job.MaxAttempts:
		w.log.Error("mail not delivered; giving up", "job", job.ID, "attempts", job.Attempt, "error", err)
	}
	return fmt.Errorf("send mail: %w", err)
}
