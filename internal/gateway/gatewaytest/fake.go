// Package gatewaytest runs local fakes of the providers gateways talk to.
// Each fake speaks the provider's real wire protocol — paths, auth headers,
// request and error bodies, 429 with retry_after — so adapters are tested
// end to end without reaching the internet.
package gatewaytest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
)

// Message is one message a fake accepted.
type Message struct {
	ChatID string
	Text   string
	// Header is the request's headers (webhook signatures).
	Header http.Header
}

// Failure is a canned failure for the next send.
type Failure struct {
	Status int
	// RetryAfter is in seconds (fractions allowed where the provider does).
	RetryAfter float64
}

// Fake is the state every provider fake shares.
type Fake struct {
	*httptest.Server
	mu       sync.Mutex
	token    string
	revoked  bool
	failures []Failure
	sent     []Message
	calls    map[string]int
	hookURL  string
	hookSec  string
	hookUpd  []string
	poll     *tgPoll // telegram_poll.go
}

func newFake(t testing.TB, token string, h func(f *Fake, w http.ResponseWriter, r *http.Request)) *Fake {
	f := &Fake{token: token, calls: map[string]int{}}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h(f, w, r) }))
	t.Cleanup(f.Server.Close)
	return f
}

// Host is the fake's host:port, for the outbound allow-list.
func (f *Fake) Host() string {
	u, _ := url.Parse(f.URL)
	return u.Host
}

// FailSends makes the next sends fail as listed, in order.
func (f *Fake) FailSends(fs ...Failure) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failures = append(f.failures, fs...)
}

// Revoke makes the fake refuse the token from now on.
func (f *Fake) Revoke() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.revoked = true
}

// Sent lists accepted messages.
func (f *Fake) Sent() []Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Message(nil), f.sent...)
}

// Calls counts requests per operation name.
func (f *Fake) Calls(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[op]
}

// Hook returns the registered inbound URL and secret (Telegram, Discord).
func (f *Fake) Hook() (url, secret string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hookURL, f.hookSec
}

// HookUpdates returns the update types the last setWebhook asked for
// (Telegram's allowed_updates).
func (f *Fake) HookUpdates() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.hookUpd...)
}

func (f *Fake) authorized(got string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls["auth"]++
	return !f.revoked && got == f.token
}

func (f *Fake) count(op string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[op]++
}

// nextFailure pops the next canned failure, if any.
func (f *Fake) nextFailure() (Failure, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.failures) == 0 {
		return Failure{}, false
	}
	x := f.failures[0]
	f.failures = f.failures[1:]
	return x, true
}

func (f *Fake) record(m Message) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sent = append(f.sent, m)
	return len(f.sent)
}

func (f *Fake) setHook(u, s string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hookURL, f.hookSec = u, s
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
