// Package stripefake is a local stand-in for the part of the Stripe API
// Switchboard calls, speaking Stripe's wire protocol: form-encoded requests
// with bracketed keys, bearer API keys, Idempotency-Key replays, JSON
// objects shaped like Stripe's, and Stripe's error envelope. Tests point
// billing's API URL at it and sign events with a test secret.
package stripefake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Server is a running fake.
type Server struct {
	URL string
	// Key is the API key it accepts.
	Key string

	mu          sync.Mutex
	seq         int
	objects     map[string]map[string]any
	idempotent  map[string][]byte
	calls       map[string]int
	declineNext bool
}

// Start runs a fake until the test ends.
func Start(t testing.TB, key string) *Server {
	t.Helper()
	s := &Server{Key: key, objects: map[string]map[string]any{}, idempotent: map[string][]byte{}, calls: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// Calls counts requests by "METHOD /path-prefix" (ids stripped), e.g.
// "POST /v1/payment_intents".
func (s *Server) Calls(key string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[key]
}

// Object returns a copy of a stored object (customer, checkout session,
// payment intent, subscription) as Stripe would send it.
func (s *Server) Object(id string) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.objects[id]
	if !ok {
		return nil
	}
	return clone(o)
}

// Objects lists stored objects of one kind ("payment_intent", …).
func (s *Server) Objects(kind string) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, o := range s.objects {
		if o["object"] == kind {
			out = append(out, clone(o))
		}
	}
	return out
}

// SetDefaultPaymentMethod saves a card on a customer, as finishing a
// Checkout with setup_future_usage does.
func (s *Server) SetDefaultPaymentMethod(customer, pm string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.objects[customer]; ok {
		c["invoice_settings"] = map[string]any{"default_payment_method": pm, "custom_fields": nil, "footer": nil}
	}
}

// DeclineNext makes the next payment intent fail with card_declined.
func (s *Server) DeclineNext() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.declineNext = true
}

// AddSubscription stores a subscription, as completing a subscription
// Checkout does, and returns it.
func (s *Server) AddSubscription(customer, price string, metadata map[string]string) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.newID("sub")
	sub := map[string]any{"id": id, "object": "subscription", "customer": customer, "status": "active",
		"metadata": stringMap(metadata), "created": time.Now().Unix(),
		"items": map[string]any{"object": "list", "data": []any{map[string]any{"id": s.newID("si"), "object": "subscription_item",
			"price": map[string]any{"id": price, "object": "price"}, "quantity": 1}}}}
	s.objects[id] = sub
	return clone(sub)
}

// Event wraps obj as a Stripe event.
func Event(id, typ string, created time.Time, obj any) []byte {
	b, err := json.Marshal(map[string]any{"id": id, "object": "event", "api_version": "2025-06-30.basil", "type": typ,
		"created": created.Unix(), "livemode": false, "pending_webhooks": 1, "data": map[string]any{"object": obj}})
	if err != nil {
		panic(err)
	}
	return b
}

func (s *Server) newID(prefix string) string {
	s.seq++
	return fmt.Sprintf("%s_test%06d", prefix, s.seq)
}

func clone(o map[string]any) map[string]any {
	b, _ := json.Marshal(o)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return out
}

func stringMap(m map[string]string) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

// stripeError writes Stripe's error envelope.
func stripeError(w http.ResponseWriter, status int, typ, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	e := map[string]any{"type": typ, "message": msg}
	if code != "" {
		e["code"] = code
	}
	if code == "card_declined" {
		e["decline_code"] = "generic_decline"
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"error": e})
}

// form reads a form-encoded body into a nested map: "a[b][0][c]=v".
func form(r *http.Request) (map[string]any, error) {
	if err := r.ParseForm(); err != nil {
		return nil, err
	}
	root := map[string]any{}
	for key, vals := range r.PostForm {
		parts := strings.Split(strings.ReplaceAll(key, "]", ""), "[")
		cur := root
		for i, p := range parts {
			if i == len(parts)-1 {
				cur[p] = vals[len(vals)-1]
				break
			}
			next, ok := cur[p].(map[string]any)
			if !ok {
				next = map[string]any{}
				cur[p] = next
			}
			cur = next
		}
	}
	return root, nil
}

func str(m map[string]any, k string) string { v, _ := m[k].(string); return v }

func sub(m map[string]any, k string) map[string]any {
	v, _ := m[k].(map[string]any)
	if v == nil {
		return map[string]any{}
	}
	return v
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+s.Key {
		stripeError(w, http.StatusUnauthorized, "invalid_request_error", "", "Invalid API Key provided.")
		return
	}
	in, err := form(r)
	if err != nil {
		stripeError(w, http.StatusBadRequest, "invalid_request_error", "", "malformed form body")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	route := r.Method + " /" + strings.Join(parts[:min(len(parts), 2)], "/")
	if len(parts) > 2 && parts[1] == "checkout" || len(parts) > 2 && parts[1] == "billing_portal" {
		route = r.Method + " /" + strings.Join(parts[:3], "/")
	}
	s.calls[route]++
	idem := ""
	if k := r.Header.Get("Idempotency-Key"); k != "" && r.Method == http.MethodPost {
		idem = r.URL.Path + "|" + k
		if prev, ok := s.idempotent[idem]; ok {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Idempotent-Replayed", "true")
			_, _ = w.Write(prev)
			return
		}
	}
	var out map[string]any
	switch {
	case route == "POST /v1/customers" && len(parts) == 2:
		id := s.newID("cus")
		out = map[string]any{"id": id, "object": "customer", "email": str(in, "email"), "metadata": sub(in, "metadata"),
			"invoice_settings": map[string]any{"default_payment_method": nil}, "created": time.Now().Unix(), "livemode": false}
		s.objects[id] = out
	case route == "GET /v1/customers" && len(parts) == 3:
		if out = s.objects[parts[2]]; out == nil || out["object"] != "customer" {
			stripeError(w, http.StatusNotFound, "invalid_request_error", "resource_missing", "No such customer: '"+parts[2]+"'")
			return
		}
	case route == "POST /v1/checkout/sessions":
		id := s.newID("cs")
		total := int64(0)
		for _, li := range sub(in, "line_items") {
			item, _ := li.(map[string]any)
			q, _ := strconv.ParseInt(str(item, "quantity"), 10, 64)
			amt, _ := strconv.ParseInt(str(sub(item, "price_data"), "unit_amount"), 10, 64)
			total += q * amt
		}
		out = map[string]any{"id": id, "object": "checkout.session", "mode": str(in, "mode"), "customer": str(in, "customer"),
			"client_reference_id": str(in, "client_reference_id"), "metadata": sub(in, "metadata"), "amount_total": total,
			"currency": "usd", "payment_status": "unpaid", "status": "open", "payment_intent": nil, "subscription": nil,
			"url": "https://checkout.stripe.test/c/pay/" + id, "success_url": str(in, "success_url"), "livemode": false}
		s.objects[id] = out
	case route == "POST /v1/billing_portal/sessions":
		if s.objects[str(in, "customer")] == nil {
			stripeError(w, http.StatusBadRequest, "invalid_request_error", "resource_missing", "No such customer")
			return
		}
		id := s.newID("bps")
		out = map[string]any{"id": id, "object": "billing_portal.session", "customer": str(in, "customer"),
			"url": "https://billing.stripe.test/p/session/" + id, "return_url": str(in, "return_url"), "livemode": false}
	case route == "POST /v1/payment_intents" && len(parts) == 2:
		cust := s.objects[str(in, "customer")]
		if cust == nil {
			stripeError(w, http.StatusBadRequest, "invalid_request_error", "resource_missing", "No such customer")
			return
		}
		if s.declineNext {
			s.declineNext = false
			stripeError(w, http.StatusPaymentRequired, "card_error", "card_declined", "Your card was declined.")
			return
		}
		amount, _ := strconv.ParseInt(str(in, "amount"), 10, 64)
		id := s.newID("pi")
		out = map[string]any{"id": id, "object": "payment_intent", "amount": amount, "amount_received": amount, "currency": str(in, "currency"),
			"customer": str(in, "customer"), "payment_method": str(in, "payment_method"), "status": "succeeded",
			"metadata": sub(in, "metadata"), "created": time.Now().Unix(), "livemode": false}
		s.objects[id] = out
	case (route == "GET /v1/subscriptions" || route == "POST /v1/subscriptions") && len(parts) == 3:
		out = s.objects[parts[2]]
		if out == nil || out["object"] != "subscription" {
			stripeError(w, http.StatusNotFound, "invalid_request_error", "resource_missing", "No such subscription")
			return
		}
		if r.Method == http.MethodPost {
			items := sub(in, "items")
			if first := sub(items, "0"); str(first, "price") != "" {
				data := out["items"].(map[string]any)["data"].([]any)
				data[0].(map[string]any)["price"] = map[string]any{"id": str(first, "price"), "object": "price"}
			}
			for k, v := range sub(in, "metadata") {
				out["metadata"].(map[string]any)[k] = v
			}
		}
	default:
		stripeError(w, http.StatusNotFound, "invalid_request_error", "", "Unrecognized request URL ("+r.Method+": "+r.URL.Path+")")
		return
	}
	b, _ := json.Marshal(out)
	if idem != "" {
		s.idempotent[idem] = b
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Request-Id", "req_"+url.QueryEscape(strconv.Itoa(s.seq)))
	_, _ = w.Write(b)
}
