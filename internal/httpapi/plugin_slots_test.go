package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/app/apptest"
	"github.com/switchboard/switchboard/internal/db/dbtest"
)

// slowServer answers each request only once released, and remembers the
// most requests it ever held at once.
type slowServer struct {
	*httptest.Server
	mu       sync.Mutex
	inFlight int
	max      int
	arrived  chan struct{}
	release  chan struct{}
}

func newSlowServer(t *testing.T) *slowServer {
	s := &slowServer{arrived: make(chan struct{}, 100), release: make(chan struct{})}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.inFlight++
		s.max = max(s.max, s.inFlight)
		s.mu.Unlock()
		s.arrived <- struct{}{}
		<-s.release
		s.mu.Lock()
		s.inFlight--
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *slowServer) maxInFlight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.max
}

// A synchronous execution takes one of the workspace's cpuCores slots like
// an asynchronous one: executions beyond the plan's cpuCores wait for a
// slot, and those still waiting when the slot wait ends are answered 429
// RATE_LIMITED with a Retry-After, without running. A slot freed within the
// wait is taken by a waiting execution.
func TestExecute_SyncExecutionsTakeConcurrencySlots(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, dbURL string) {
		srv, srv2 := newSlowServer(t), newSlowServer(t)
		u, _ := url.Parse(srv.URL)
		u2, _ := url.Parse(srv2.URL)
		h := gatewayNode(t, dbURL, []string{u.Host, u2.Host})
		tok := h.SignUp("slots@example.com", "correct horse battery").AccessToken
		cores := int(actor.PlanLimits[actor.Free].CPUCores)
		inst := install(t, h, tok, map[string]any{"plugin": "http-request", "config": map[string]any{"url": srv.URL + "/slow"}})
		const wait = 500 * time.Millisecond
		h.App.Installs.SetSlotWait(wait)

		type answer struct {
			r       *apptest.Response
			elapsed time.Duration
		}
		fire := func(n int, body map[string]any) chan answer {
			out := make(chan answer, n)
			for range n {
				go func() {
					began := time.Now()
					r := h.Do(apptest.Request{Method: "POST", Path: "/api/v1/installations/" + inst + "/execute", Token: tok, Body: body})
					out <- answer{r, time.Since(began)}
				}()
			}
			return out
		}

		// cores+2 at once: cores run (held by the server), the others wait
		// out the slot wait and are refused.
		answers := fire(cores+2, map[string]any{})
		for range cores {
			<-srv.arrived
		}
		for range 2 {
			a := <-answers
			if a.r.Status != http.StatusTooManyRequests || a.r.Code() != "RATE_LIMITED" || a.r.Header.Get("Retry-After") == "" {
				t.Fatalf("an execution beyond the slots: %d %s %v", a.r.Status, a.r.Raw, a.r.Header)
			}
			if a.elapsed < wait {
				t.Fatalf("refused after %s, before waiting %s for a slot", a.elapsed, wait)
			}
		}
		close(srv.release)
		for range cores {
			a := <-answers
			var e eventExecution
			if a.r.Status != http.StatusOK {
				t.Fatalf("an execution holding a slot: %d %s", a.r.Status, a.r.Raw)
			}
			a.r.Data(t, &e)
			if e.Status != "SUCCEEDED" {
				t.Fatalf("an execution holding a slot: %+v", e)
			}
		}
		if got := srv.maxInFlight(); got != cores {
			t.Fatalf("at most %d executions ran at once, want the plan's cpuCores %d", got, cores)
		}
		// Only the executions that ran are in history; none stays RUNNING.
		if es := executions(t, h, tok, inst); len(es) != cores {
			t.Fatalf("history holds %d executions, want %d: %+v", len(es), cores, es)
		}

		// A slot freed within the wait goes to a waiting execution.
		h.App.Installs.SetSlotWait(time.Minute)
		answers = fire(cores+1, map[string]any{"input": map[string]any{"url": srv2.URL + "/slow"}})
		for range cores {
			<-srv2.arrived
		}
		close(srv2.release)
		for range cores + 1 {
			a := <-answers
			if a.r.Status != http.StatusOK {
				t.Fatalf("with a slot freed during the wait: %d %s", a.r.Status, a.r.Raw)
			}
		}
		if got := srv2.maxInFlight(); got != cores {
			t.Fatalf("at most %d executions ran at once, want %d", got, cores)
		}
	})
}
