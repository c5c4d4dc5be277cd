// Package stripefake is a local stand-in for the part of the Stripe API
// Switchboard calls, speaking Stripe's wire protocol: form-encoded requests
// with bracketed keys, bearer API keys, Idempotency-Key replays, JSON
// objects shaped like Stripe's, and Stripe's error envelope. Tests point
// billing's API URL at it and sign events with a test secret.
//
// It is strict where Stripe is: a parameter an endpoint does not take is
// refused (parameter_unknown), required ones must be there
// (parameter_missing), payment_intent_data only goes with payment mode,
// and a PaymentIntent confirmed off-session needs a payment method attached
// to its customer — Stripe never falls back to the customer's invoice
// default for a PaymentIntent. A payment method ends up attached to the
// customer only when the Checkout that collected it asked for
// setup_future_usage (CompleteCheckout plays the paying customer).
//
// A Checkout Session's url is the fake's own checkout page and a portal
// session's its own portal page (pages.go), so a browser test can pay: the
// page completes the session, sends the signed events Stripe sends to the
// endpoint set with SendWebhooksTo, and redirects to the success URL.
package stripefake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Server is a running fake.
type Server struct {
	// URL is the base URL to configure as Stripe's API URL (it includes
	// the prefix the fake is mounted under, if any).
	URL string
	// Key is the API key it accepts.
	Key string

	prefix      string
	mu          sync.Mutex
	seq         int
	objects     map[string]map[string]any
	idempotent  map[string][]byte
	calls       map[string]int
	checkouts   map[string]checkoutExtra
	declineNext bool
	// Where the checkout page sends its events (SendWebhooksTo), and
	// every event it made.
	webhookURL, webhookSecret string
	events                    []Delivery
}

// checkoutExtra is what a Checkout Session was created with that its
// object does not show: what the payment it collects will be set up for.
type checkoutExtra struct {
	setupFutureUsage string
	piMetadata       map[string]any
	// lines are what the checkout page shows and a subscription is made of.
	lines []lineItem
	// subscriptionMetadata is subscription_data[metadata]: the metadata of
	// the subscription a subscription-mode session creates.
	subscriptionMetadata map[string]any
}

// lineItem is one line of a Checkout Session: a price id, or a product
// priced inline.
type lineItem struct {
	Name       string
	Price      string
	Quantity   int64
	UnitAmount int64
	Currency   string
}

// Start runs a fake at the root of its own server until the test ends.
func Start(t testing.TB, key string) *Server { return StartAt(t, key, "") }

// StartAt runs a fake mounted under prefix ("/stripe-prefix"), as behind a
// proxy: only requests under the prefix reach it.
func StartAt(t testing.TB, key, prefix string) *Server {
	t.Helper()
	prefix = strings.TrimRight(prefix, "/")
	s := &Server{Key: key, prefix: prefix, objects: map[string]map[string]any{}, idempotent: map[string][]byte{},
		calls: map[string]int{}, checkouts: map[string]checkoutExtra{}}
	srv := httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(srv.Close)
	s.URL = srv.URL + prefix
	return s
}

// Calls counts requests by "METHOD /path-prefix" (ids and the mount prefix
// stripped), e.g. "POST /v1/payment_intents".
func (s *Server) Calls(key string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[key]
}

// Object returns a copy of a stored object (customer, checkout session,
// payment intent, payment method, subscription) as Stripe would send it.
func (s *Server) Object(id string) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.objects[id]
	if !ok {
		return nil
	}
	return clone(o)
}

// Objects lists stored objects of one kind ("payment_intent", …), oldest
// first.
func (s *Server) Objects(kind string) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, o := range s.objects {
		if o["object"] == kind {
			out = append(out, clone(o))
		}
	}
	sort.Slice(out, func(i, j int) bool { return str(out[i], "id") < str(out[j], "id") })
	return out
}

// DefaultPaymentMethod is the customer's invoice_settings.default_payment_method.
func (s *Server) DefaultPaymentMethod(customer string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.objects[customer]
	if c == nil {
		return ""
	}
	return str(sub(c, "invoice_settings"), "default_payment_method")
}

// CompleteCheckout plays the customer paying a payment-mode Checkout
// Session with a new card, as Stripe does: a succeeded PaymentIntent with
// the card, the card attached to the session's customer only if the
// session set it up for future use, and the session complete and paid. It
// returns the session as checkout.session.completed carries it.
func (s *Server) CompleteCheckout(sessionID string) (map[string]any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.completePayment(sessionID)
}

// completePayment is CompleteCheckout with s.mu held.
func (s *Server) completePayment(sessionID string) (map[string]any, error) {
	cs := s.objects[sessionID]
	if cs == nil || cs["object"] != "checkout.session" {
		return nil, fmt.Errorf("no checkout session %s", sessionID)
	}
	if cs["mode"] != "payment" || cs["status"] != "open" {
		return nil, fmt.Errorf("checkout session %s is %s in %s mode; only open payment sessions complete here", sessionID, cs["status"], cs["mode"])
	}
	extra := s.checkouts[sessionID]
	cust, _ := cs["customer"].(string)
	pm := s.newID("pm")
	var attached any
	if extra.setupFutureUsage != "" && cust != "" {
		attached = cust
	}
	s.objects[pm] = map[string]any{"id": pm, "object": "payment_method", "type": "card", "customer": attached,
		"card":    map[string]any{"brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2030},
		"created": time.Now().Unix(), "livemode": false, "metadata": map[string]any{}}
	pi := s.newID("pi")
	s.objects[pi] = map[string]any{"id": pi, "object": "payment_intent", "amount": cs["amount_total"], "amount_received": cs["amount_total"],
		"currency": cs["currency"], "customer": cs["customer"], "payment_method": pm, "status": "succeeded",
		"setup_future_usage": nilIfEmpty(extra.setupFutureUsage), "metadata": extra.piMetadata, "created": time.Now().Unix(), "livemode": false}
	cs["status"], cs["payment_status"], cs["payment_intent"] = "complete", "paid", pi
	return clone(cs), nil
}

// DeclineNext makes the next payment intent fail with card_declined.
func (s *Server) DeclineNext() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.declineNext = true
}

// AddSubscription stores a subscription, as completing a subscription
// Checkout does, and returns it: the customer's new card is attached to
// the customer (Stripe sets a subscription's card up for off-session
// renewals) and is the subscription's default_payment_method.
func (s *Server) AddSubscription(customer, price string, metadata map[string]string) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addSubscription(customer, price, stringMap(metadata))
}

// addSubscription is AddSubscription with s.mu held.
func (s *Server) addSubscription(customer, price string, metadata map[string]any) map[string]any {
	pm := s.newID("pm")
	s.objects[pm] = map[string]any{"id": pm, "object": "payment_method", "type": "card", "customer": customer,
		"card":    map[string]any{"brand": "visa", "last4": "4444", "exp_month": 12, "exp_year": 2030},
		"created": time.Now().Unix(), "livemode": false, "metadata": map[string]any{}}
	id := s.newID("sub")
	sub := map[string]any{"id": id, "object": "subscription", "customer": customer, "status": "active", "default_payment_method": pm,
		"metadata": metadata, "created": time.Now().Unix(),
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

func nilIfEmpty(v string) any {
	if v == "" {
		return nil
	}
	return v
}

// apiError is Stripe's error envelope's content.
type apiError struct {
	status                int
	typ, code, param, msg string
}

func (e *apiError) write(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.status)
	body := map[string]any{"type": e.typ, "message": e.msg}
	if e.code != "" {
		body["code"] = e.code
	}
	if e.param != "" {
		body["param"] = e.param
	}
	if e.code == "card_declined" {
		body["decline_code"] = "generic_decline"
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"error": body})
}

func invalid(code, param, format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, typ: "invalid_request_error", code: code, param: param, msg: fmt.Sprintf(format, args...)}
}

func missing(param string) *apiError {
	return invalid("parameter_missing", param, "Missing required param: %s.", param)
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

// only refuses, as Stripe does, a parameter the endpoint does not take.
func only(in map[string]any, prefix string, allowed ...string) *apiError {
	ok := map[string]bool{}
	for _, a := range allowed {
		ok[a] = true
	}
	keys := make([]string, 0, len(in))
	for k := range in {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !ok[k] {
			name := k
			if prefix != "" {
				name = prefix + "[" + k + "]"
			}
			return invalid("parameter_unknown", name, "Received unknown parameter: %s", name)
		}
	}
	return nil
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
	path, under := strings.CutPrefix(r.URL.Path, s.prefix)
	if under && s.page(w, r, path) {
		return
	}
	if !under || !strings.HasPrefix(path, "/v1/") {
		(&apiError{status: http.StatusNotFound, typ: "invalid_request_error", msg: "Unrecognized request URL (" + r.Method + ": " + r.URL.Path + ")"}).write(w)
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+s.Key {
		(&apiError{status: http.StatusUnauthorized, typ: "invalid_request_error", msg: "Invalid API Key provided."}).write(w)
		return
	}
	in, err := form(r)
	if err != nil {
		invalid("", "", "malformed form body").write(w)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	parts := strings.Split(strings.Trim(path, "/"), "/")
	route := r.Method + " /" + strings.Join(parts[:min(len(parts), 2)], "/")
	if len(parts) > 2 && (parts[1] == "checkout" || parts[1] == "billing_portal") {
		route = r.Method + " /" + strings.Join(parts[:3], "/")
		parts = append([]string{parts[0], parts[1] + "/" + parts[2]}, parts[3:]...)
	}
	s.calls[route]++
	idem := ""
	if k := r.Header.Get("Idempotency-Key"); k != "" && r.Method == http.MethodPost {
		idem = path + "|" + k
		if prev, ok := s.idempotent[idem]; ok {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Idempotent-Replayed", "true")
			_, _ = w.Write(prev)
			return
		}
	}
	id := ""
	if len(parts) == 3 {
		id = parts[2]
	}
	out, apiErr := s.route(route, len(parts), id, in)
	if apiErr != nil {
		apiErr.write(w)
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

func (s *Server) route(route string, n int, id string, in map[string]any) (map[string]any, *apiError) {
	switch {
	case route == "POST /v1/customers" && n == 2:
		return s.createCustomer(in)
	case route == "GET /v1/customers" && n == 3:
		return s.get("customer", id)
	case route == "POST /v1/customers" && n == 3:
		return s.updateCustomer(id, in)
	case route == "POST /v1/checkout/sessions" && n == 2:
		return s.createCheckout(in)
	case route == "POST /v1/billing_portal/sessions" && n == 2:
		return s.createPortal(in)
	case route == "POST /v1/payment_intents" && n == 2:
		return s.createPaymentIntent(in)
	case route == "GET /v1/payment_intents" && n == 3:
		return s.get("payment_intent", id)
	case route == "GET /v1/payment_methods" && n == 3:
		return s.get("payment_method", id)
	case route == "GET /v1/subscriptions" && n == 3:
		return s.get("subscription", id)
	case route == "POST /v1/subscriptions" && n == 3:
		return s.updateSubscription(id, in)
	}
	return nil, &apiError{status: http.StatusNotFound, typ: "invalid_request_error", msg: "Unrecognized request URL (" + route + ")"}
}
