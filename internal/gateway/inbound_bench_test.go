package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/db/dbtest"
	"github.com/switchboard/switchboard/internal/gateway/channel"
	"github.com/switchboard/switchboard/internal/gateway/webhook"
	"github.com/switchboard/switchboard/internal/ids"
)

// BenchmarkInbound measures accepted inbound events per second through the
// service (authenticate a Standard Webhooks signature, store the event,
// enqueue its job, commit) on each engine, with the p99 latency of one
// delivery. Run: go test ./internal/gateway -run '^$' -bench Inbound
// (set SWITCHBOARD_TEST_DATABASE_URL for PostgreSQL).
func BenchmarkInbound(b *testing.B) {
	for _, e := range dbtest.Engines() {
		b.Run(e.Name, func(b *testing.B) {
			d := dbtest.Open(b, e.URL(b))
			s := newTestService(b, d, b.TempDir())
			ctx := context.Background()
			a := actor.Actor{UserID: ids.New(ids.User), Role: actor.Member, Plan: actor.Enterprise}
			sec := whsec(b)
			g, err := s.Create(ctx, a, CreateInput{Type: channel.Webhook, Name: "bench", Credentials: map[string]string{"signingSecret": sec}})
			if err != nil {
				b.Fatal(err)
			}
			if g, err = s.Connect(ctx, a, g.ID); err != nil || g.Status != Connected {
				b.Fatalf("connect: %v %v", g.Status, err)
			}
			r, err := getRow(ctx, d.Read(), a.WorkspaceID(), g.ID)
			if err != nil {
				b.Fatal(err)
			}
			token, err := s.openHook(r)
			if err != nil {
				b.Fatal(err)
			}
			key, _ := webhook.DecodeSecret(sec)
			var seq atomic.Int64
			var mu sync.Mutex
			lat := make([]time.Duration, 0, b.N)
			b.SetParallelism(4)
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				local := make([]time.Duration, 0, 1024)
				for pb.Next() {
					n := seq.Add(1)
					body, _ := json.Marshal(map[string]any{"text": "hello", "n": n})
					id := "msg_" + strconv.FormatInt(n, 10)
					now := time.Now()
					h := http.Header{}
					h.Set("webhook-id", id)
					h.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
					h.Set("webhook-signature", webhook.Sign(key, id, now.Unix(), body))
					t0 := time.Now()
					res, err := s.Inbound(ctx, g.ID, token, channel.Request{Method: "POST", Header: h, Body: body})
					if err != nil || res.Stored != 1 {
						b.Errorf("inbound: %v %+v", err, res)
						return
					}
					local = append(local, time.Since(t0))
				}
				mu.Lock()
				lat = append(lat, local...)
				mu.Unlock()
			})
			elapsed := time.Since(start)
			b.StopTimer()
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			if len(lat) > 0 {
				b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "events/s")
				b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
			}
		})
	}
}
