package gatewaytest

import (
	"net/http"
	"time"
)

// The Bot API's long polling, as the real one behaves: getUpdates returns
// the pending updates with update_id ≥ offset (a call with an offset
// confirms, and forgets, every update before it), waits up to `timeout`
// seconds for one when there is none, answers 409 while a webhook is set,
// and ends an earlier getUpdates still waiting with 409 "terminated by
// other getUpdates request" when another one arrives.

type tgUpdate struct {
	id   int64
	body map[string]any
}

// tgPoll is the fake's long-polling state, guarded by Fake.mu.
type tgPoll struct {
	queue     []tgUpdate
	next      int64
	wake      chan struct{}
	gen       int
	offsets   []int64
	served    map[int64]int
	conflicts int
	waiting   int
}

func (f *Fake) tg() *tgPoll {
	if f.poll == nil {
		f.poll = &tgPoll{next: 100, wake: make(chan struct{}), served: map[int64]int{}}
	}
	return f.poll
}

// wakeLocked ends every waiting getUpdates' wait; call with f.mu held.
func (p *tgPoll) wakeLocked() {
	close(p.wake)
	p.wake = make(chan struct{})
}

// PushUpdate queues an update for getUpdates, giving it the next
// update_id, which it returns.
func (f *Fake) PushUpdate(u map[string]any) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.tg()
	p.next++
	body := map[string]any{}
	for k, v := range u {
		body[k] = v
	}
	body["update_id"] = p.next
	p.queue = append(p.queue, tgUpdate{id: p.next, body: body})
	p.wakeLocked()
	return p.next
}

// PollOffsets lists the offsets getUpdates was called with, in order.
func (f *Fake) PollOffsets() []int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]int64(nil), f.tg().offsets...)
}

// Served counts how many times getUpdates returned each update.
func (f *Fake) Served() map[int64]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[int64]int{}
	for k, v := range f.tg().served {
		out[k] = v
	}
	return out
}

// PollWaiting counts the getUpdates calls waiting now (a client that went
// away is no longer counted once the server has noticed).
func (f *Fake) PollWaiting() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tg().waiting
}

// PollConflicts counts getUpdates calls ended because another one
// arrived while they waited (two pollers of one bot).
func (f *Fake) PollConflicts() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tg().conflicts
}

func num(v any) int64 {
	switch x := v.(type) {
	case float64:
		return int64(x)
	case int64:
		return x
	case int:
		return int64(x)
	}
	return 0
}

func (f *Fake) getUpdates(w http.ResponseWriter, r *http.Request, in map[string]any) {
	offset, timeout, limit := num(in["offset"]), num(in["timeout"]), num(in["limit"])
	if limit <= 0 || limit > 100 {
		limit = 100
	}
	f.mu.Lock()
	if f.hookURL != "" {
		f.mu.Unlock()
		writeJSON(w, http.StatusConflict, map[string]any{"ok": false, "error_code": 409,
			"description": "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first"})
		return
	}
	p := f.tg()
	p.offsets = append(p.offsets, offset)
	if offset > 0 {
		kept := p.queue[:0]
		for _, u := range p.queue {
			if u.id >= offset {
				kept = append(kept, u)
			}
		}
		p.queue = kept
	}
	p.gen++
	gen := p.gen
	p.wakeLocked() // an earlier getUpdates still waiting ends with 409
	deadline := time.After(time.Duration(timeout) * time.Second)
	p.waiting++
	defer func() {
		f.mu.Lock()
		p.waiting--
		f.mu.Unlock()
	}()
	for {
		if r.Context().Err() != nil {
			f.mu.Unlock()
			return // the client went away: nothing served
		}
		if p.gen != gen {
			p.conflicts++
			f.mu.Unlock()
			writeJSON(w, http.StatusConflict, map[string]any{"ok": false, "error_code": 409,
				"description": "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"})
			return
		}
		var out []map[string]any
		for _, u := range p.queue {
			if u.id >= offset && int64(len(out)) < limit {
				out = append(out, u.body)
				p.served[u.id]++
			}
		}
		if len(out) > 0 || timeout <= 0 {
			f.mu.Unlock()
			if out == nil {
				out = []map[string]any{}
			}
			writeJSON(w, http.StatusOK, map[string]any{"ok": true, "result": out})
			return
		}
		wake := p.wake
		f.mu.Unlock()
		select {
		case <-wake:
		case <-deadline:
			timeout = 0
		case <-r.Context().Done():
			return
		}
		f.mu.Lock()
	}
}
