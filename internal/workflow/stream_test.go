package workflow_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/db/dbtest"
)

type sseEvent struct {
	id, event string
	run       studioRun
}

// readStream reads a run stream to its end.
func readStream(t *testing.T, base, tok, runID, lastID string) (int, []sseEvent) {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/api/v1/runs/"+runID+"/stream", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return res.StatusCode, nil
	}
	if ct := res.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	var events []sseEvent
	var cur sseEvent
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 1<<20), 8<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if cur.event != "" {
				events = append(events, cur)
			}
			cur = sseEvent{}
		case strings.HasPrefix(line, "id: "):
			cur.id = line[4:]
		case strings.HasPrefix(line, "event: "):
			cur.event = line[7:]
		case strings.HasPrefix(line, "data: "):
			if err := json.Unmarshal([]byte(line[6:]), &cur.run); err != nil {
				t.Fatalf("data %q: %v", line, err)
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("stream broke: %v", err)
	}
	return res.StatusCode, events
}

// GET /runs/{id}/stream follows a run through a server with short read
// and write timeouts (the stream lifts them): an event per checkpoint,
// the run's final state last, then the end; Last-Event-ID resumes; other
// workspaces get 404.
func TestRunStream(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h, tok := node(t, url)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: h.App.HTTP, ReadTimeout: 100 * time.Millisecond, WriteTimeout: 100 * time.Millisecond}
		go func() { _ = srv.Serve(ln) }()
		t.Cleanup(func() { _ = srv.Close() })
		base := "http://" + ln.Addr().String()

		w := create(t, h, tok, "streamed", def(manual, transform("a", "`1`", "d"), delay("d", 1, "z"), transform("z", "'done'", "")))
		r := start(t, h, tok, w.ID, nil)
		status, events := readStream(t, base, tok, r.ID, "")
		if status != http.StatusOK || len(events) < 2 {
			t.Fatalf("stream: %d %+v", status, events)
		}
		first, last := events[0], events[len(events)-1]
		if first.event != "run" || first.run.ID != r.ID || first.run.Status != "running" || first.id != strconv.Itoa(first.run.Checkpoint) {
			t.Fatalf("first event: %+v", first)
		}
		if last.run.Status != "completed" || string(last.run.Output) != `"done"` || len(last.run.Steps) != 3 || last.id != strconv.Itoa(last.run.Checkpoint) {
			t.Fatalf("last event: %+v", last)
		}
		if d := last.run.Steps[1]; d.StepID != "d" || d.WaitUntil == nil {
			t.Fatalf("a delay's record says when it ends: %+v", d)
		}
		for i := 1; i < len(events); i++ {
			if events[i].run.Checkpoint <= events[i-1].run.Checkpoint {
				t.Fatalf("checkpoints out of order: %+v", events)
			}
		}

		// Resuming: nothing new after the last id; the final state after an older one.
		if _, again := readStream(t, base, tok, r.ID, last.id); len(again) != 0 {
			t.Fatalf("resumed at the end: %+v", again)
		}
		if _, again := readStream(t, base, tok, r.ID, first.id); len(again) != 1 || again[0].run.Status != "completed" {
			t.Fatalf("resumed from the start: %+v", again)
		}

		other := h.SignUp("stranger@example.com", pw).AccessToken
		if status, _ := readStream(t, base, other, r.ID, ""); status != http.StatusNotFound {
			t.Fatalf("another workspace: %d", status)
		}
		if status, _ := readStream(t, base, "", r.ID, ""); status != http.StatusUnauthorized {
			t.Fatalf("no credential: %d", status)
		}

		// A shutdown ends the streams of runs still under way.
		long := start(t, h, tok, create(t, h, tok, "long", def(manual, delay("d", 600, ""))).ID, nil)
		req, _ := http.NewRequest("GET", base+"/api/v1/runs/"+long.ID+"/stream", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		br := bufio.NewReader(res.Body)
		if line, err := br.ReadString('\n'); err != nil || line != "id: "+strconv.Itoa(long.Checkpoint)+"\n" {
			t.Fatalf("long run's first line %q %v", line, err)
		}
		h.App.HTTP.CloseStreams()
		if _, err := io.Copy(io.Discard, br); err != nil {
			t.Fatalf("stream after shutdown: %v", err)
		}
	})
}
