package bench

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/switchboard/switchboard/internal/app"
	"github.com/switchboard/switchboard/internal/app/apptest"
	"github.com/switchboard/switchboard/internal/config"
	"github.com/switchboard/switchboard/internal/db/dbtest"
)

func quiet(c *config.Config) { c.LogLevel = "warn" }

// client reuses connections like any keep-alive HTTP client would.
var client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}

func get(b *testing.B, url, token string) {
	req, _ := http.NewRequest("GET", url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := client.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != 200 {
		b.Fatalf("status %d", res.StatusCode)
	}
}

// BenchmarkMe measures authenticated GET /api/v1/me through the whole
// stack: middleware, JWT check, session and account read, envelope.
func BenchmarkMe(b *testing.B) {
	for _, e := range dbtest.Engines() {
		b.Run(e.Name, func(b *testing.B) {
			h := apptest.Start(b, e.URL(b), quiet)
			s := h.SignUp("bench@example.com", "correct horse battery")
			url := h.URL + "/api/v1/me"
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					get(b, url, s.AccessToken)
				}
			})
		})
	}
}

// BenchmarkBareJSON is the baseline for BenchmarkMe: a net/http handler
// that answers a user-sized JSON object and does nothing else.
func BenchmarkBareJSON(b *testing.B) {
	user := map[string]any{"id": "usr_01jbench", "email": "bench@example.com", "name": "Bench", "role": "MEMBER", "plan": "FREE"}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"success": true, "data": user})
	}))
	defer srv.Close()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			get(b, srv.URL, "")
		}
	})
}

// BenchmarkLogin measures password sign-ins with the production argon2id
// cost (7 MiB, t=5): the hash dominates, by design.
func BenchmarkLogin(b *testing.B) {
	for _, e := range dbtest.Engines() {
		b.Run(e.Name, func(b *testing.B) {
			h := apptest.StartWith(b, e.URL(b), app.Options{}, quiet, func(c *config.Config) { c.AuthRateLimit = 1 << 30 })
			h.SignUp("bench@example.com", "correct horse battery")
			body := []byte(`{"email":"bench@example.com","password":"correct horse battery"}`)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					res, err := client.Post(h.URL+"/api/v1/auth/login", "application/json", bytes.NewReader(body))
					if err != nil {
						b.Fatal(err)
					}
					_, _ = io.Copy(io.Discard, res.Body)
					res.Body.Close()
					if res.StatusCode != 200 {
						b.Fatalf("status %d", res.StatusCode)
					}
				}
			})
		})
	}
}
