package workflow

import (
	"time"

	"github.com/switchboard/switchboard/internal/db"
)

// observe counts, once tx has committed, what a commit of the run did: the
// run's start (insert), the steps it recorded and its end.
func (s *Service) observe(tx *db.Tx, x *exec, status string, insert bool) {
	m := s.Metrics
	if m == nil {
		return
	}
	trigger := string(x.run.Trigger)
	type step struct {
		typ, status string
		d           time.Duration
	}
	steps := make([]step, len(x.records))
	for i, rec := range x.records {
		steps[i] = step{string(rec.Type), rec.Status, time.Duration(rec.DurationUs) * time.Microsecond}
	}
	tx.AfterCommit(func() {
		if insert {
			m.RunStarted(trigger)
		}
		for _, st := range steps {
			m.Step(st.typ, st.status, st.d)
		}
		if status != StatusRunning {
			m.RunFinished(trigger, status)
		}
	})
}
