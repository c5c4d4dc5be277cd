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
}

// checkoutExtra is what a Checkout Session was created with that its
// object does not show: what the payment it collects will be set up for.
type checkoutExtra struct {
	setupFutureUsage string
	piMetadata       map[string]any
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

func (s *Server) get(kind, id string) (map[string]any, *apiError) {
	o := s.objects[id]
	if o == nil || o["object"] != kind {
		return nil, &apiError{status: http.StatusNotFound, typ: "invalid_request_error", code: "resource_missing", param: "id",
			msg: fmt.Sprintf("No such %s: '%s'", strings.ReplaceAll(kind, "_", ""), id)}
	}
	return o, nil
}

func (s *Server) createCustomer(in map[string]any) (map[string]any, *apiError) {
	if e := only(in, "", "email", "name", "description", "metadata", "expand"); e != nil {
		return nil, e
	}
	id := s.newID("cus")
	out := map[string]any{"id": id, "object": "customer", "email": nilIfEmpty(str(in, "email")), "metadata": sub(in, "metadata"),
		"invoice_settings": map[string]any{"default_payment_method": nil, "custom_fields": nil, "footer": nil},
		"created":          time.Now().Unix(), "livemode": false}
	s.objects[id] = out
	return out, nil
}

// updateCustomer takes invoice_settings[default_payment_method] only for a
// payment method attached to the customer, as Stripe does.
func (s *Server) updateCustomer(id string, in map[string]any) (map[string]any, *apiError) {
	c, e := s.get("customer", id)
	if e != nil {
		return nil, e
	}
	if e := only(in, "", "email", "name", "description", "metadata", "invoice_settings", "expand"); e != nil {
		return nil, e
	}
	if is, ok := in["invoice_settings"].(map[string]any); ok {
		if e := only(is, "invoice_settings", "default_payment_method", "custom_fields", "footer"); e != nil {
			return nil, e
		}
		if pm, set := is["default_payment_method"]; set {
			pmID, _ := pm.(string)
			if o := s.objects[pmID]; pmID != "" && (o == nil || o["object"] != "payment_method" || o["customer"] != id) {
				return nil, invalid("resource_missing", "invoice_settings[default_payment_method]",
					"The customer does not have a payment method with the ID %s. The payment method must be attached to the customer.", pmID)
			}
			sub(c, "invoice_settings")["default_payment_method"] = nilIfEmpty(pmID)
		}
	}
	if v, ok := in["email"].(string); ok {
		c["email"] = v
	}
	for k, v := range sub(in, "metadata") {
		sub(c, "metadata")[k] = v
	}
	return c, nil
}

func (s *Server) createCheckout(in map[string]any) (map[string]any, *apiError) {
	if e := only(in, "", "mode", "customer", "customer_email", "customer_creation", "client_reference_id", "metadata", "success_url",
		"cancel_url", "line_items", "payment_intent_data", "subscription_data", "payment_method_types", "allow_promotion_codes", "expand"); e != nil {
		return nil, e
	}
	mode := str(in, "mode")
	switch mode {
	case "":
		return nil, missing("mode")
	case "payment", "subscription", "setup":
	default:
		return nil, invalid("", "mode", "Invalid mode: must be one of payment, setup, or subscription")
	}
	if str(in, "success_url") == "" {
		return nil, missing("success_url")
	}
	cust := str(in, "customer")
	if cust != "" && s.objects[cust] == nil {
		return nil, invalid("resource_missing", "customer", "No such customer: '%s'", cust)
	}
	if _, ok := in["customer_creation"]; ok && (cust != "" || mode != "payment") {
		return nil, invalid("", "customer_creation", "customer_creation can only be used in payment mode and without customer.")
	}
	if _, ok := in["payment_intent_data"]; ok && mode != "payment" {
		return nil, invalid("", "payment_intent_data", "You can not pass `payment_intent_data` in `%s` mode.", mode)
	}
	if _, ok := in["subscription_data"]; ok && mode != "subscription" {
		return nil, invalid("", "subscription_data", "You can not pass `subscription_data` in `%s` mode.", mode)
	}
	pid := sub(in, "payment_intent_data")
	if e := only(pid, "payment_intent_data", "setup_future_usage", "metadata", "description", "capture_method", "receipt_email"); e != nil {
		return nil, e
	}
	sfu := str(pid, "setup_future_usage")
	if sfu != "" && sfu != "on_session" && sfu != "off_session" {
		return nil, invalid("", "payment_intent_data[setup_future_usage]", "Invalid payment_intent_data[setup_future_usage]: must be one of on_session or off_session")
	}
	total, e := lineItemsTotal(in, mode)
	if e != nil {
		return nil, e
	}
	id := s.newID("cs")
	out := map[string]any{"id": id, "object": "checkout.session", "mode": mode, "customer": nilIfEmpty(cust),
		"client_reference_id": nilIfEmpty(str(in, "client_reference_id")), "metadata": sub(in, "metadata"), "amount_total": total,
		"currency": "usd", "payment_status": "unpaid", "status": "open", "payment_intent": nil, "subscription": nil,
		"url": "https://checkout.stripe.test/c/pay/" + id, "success_url": str(in, "success_url"), "livemode": false}
	s.objects[id] = out
	s.checkouts[id] = checkoutExtra{setupFutureUsage: sfu, piMetadata: sub(pid, "metadata")}
	return out, nil
}

func lineItemsTotal(in map[string]any, mode string) (int64, *apiError) {
	items := sub(in, "line_items")
	if len(items) == 0 && mode != "setup" {
		return 0, missing("line_items")
	}
	total := int64(0)
	for i := 0; i < len(items); i++ {
		item, ok := items[strconv.Itoa(i)].(map[string]any)
		name := fmt.Sprintf("line_items[%d]", i)
		if !ok {
			return 0, invalid("", "line_items", "Invalid array")
		}
		if e := only(item, name, "price", "price_data", "quantity"); e != nil {
			return 0, e
		}
		q, err := strconv.ParseInt(str(item, "quantity"), 10, 64)
		if err != nil || q < 1 {
			return 0, missing(name + "[quantity]")
		}
		if str(item, "price") == "" {
			pd, ok := item["price_data"].(map[string]any)
			if !ok {
				return 0, invalid("", name, "You must specify either `price` or `price_data` for each line item.")
			}
			if str(pd, "currency") == "" {
				return 0, missing(name + "[price_data][currency]")
			}
			amt, err := strconv.ParseInt(str(pd, "unit_amount"), 10, 64)
			if err != nil || amt < 0 {
				return 0, missing(name + "[price_data][unit_amount]")
			}
			if str(sub(pd, "product_data"), "name") == "" && str(pd, "product") == "" {
				return 0, missing(name + "[price_data][product_data][name]")
			}
			total += q * amt
		}
	}
	return total, nil
}

func (s *Server) createPortal(in map[string]any) (map[string]any, *apiError) {
	if e := only(in, "", "customer", "return_url", "configuration", "expand"); e != nil {
		return nil, e
	}
	cust := str(in, "customer")
	if cust == "" {
		return nil, missing("customer")
	}
	if s.objects[cust] == nil {
		return nil, invalid("resource_missing", "customer", "No such customer: '%s'", cust)
	}
	id := s.newID("bps")
	return map[string]any{"id": id, "object": "billing_portal.session", "customer": cust,
		"url": "https://billing.stripe.test/p/session/" + id, "return_url": str(in, "return_url"), "livemode": false}, nil
}

// createPaymentIntent follows Stripe's rules for an immediate charge: a
// confirmed intent needs a payment method, and one confirmed off-session
// for a customer needs a payment method attached to that customer.
func (s *Server) createPaymentIntent(in map[string]any) (map[string]any, *apiError) {
	if e := only(in, "", "amount", "currency", "customer", "payment_method", "off_session", "confirm", "metadata", "description",
		"setup_future_usage", "payment_method_types", "receipt_email", "error_on_requires_action", "statement_descriptor_suffix", "expand"); e != nil {
		return nil, e
	}
	amount, err := strconv.ParseInt(str(in, "amount"), 10, 64)
	if err != nil || amount < 1 {
		return nil, missing("amount")
	}
	if str(in, "currency") == "" {
		return nil, missing("currency")
	}
	cust, pm := str(in, "customer"), str(in, "payment_method")
	if cust != "" {
		if c := s.objects[cust]; c == nil || c["object"] != "customer" {
			return nil, invalid("resource_missing", "customer", "No such customer: '%s'", cust)
		}
	}
	confirm, offSession := str(in, "confirm") == "true", str(in, "off_session") == "true"
	if _, set := in["off_session"]; set && !confirm {
		return nil, invalid("", "off_session", "off_session can only be used when confirm=true.")
	}
	if pm != "" {
		o := s.objects[pm]
		if o == nil || o["object"] != "payment_method" {
			return nil, invalid("resource_missing", "payment_method", "No such PaymentMethod: '%s'", pm)
		}
		if owner, _ := o["customer"].(string); (cust != "" || offSession) && owner != cust {
			return nil, invalid("", "payment_method",
				"The provided PaymentMethod was previously used with a PaymentIntent without Customer attachment, shared with a connected account without Customer attachment, or was detached from a Customer. It may not be used again. To use a PaymentMethod multiple times, you must attach it to a Customer first.")
		}
	}
	if confirm && pm == "" {
		return nil, invalid("payment_intent_unexpected_state", "",
			"You cannot confirm this PaymentIntent because it's missing a payment method. To confirm the PaymentIntent with %s, specify a payment method attached to this customer along with the customer ID.", cust)
	}
	if confirm && s.declineNext {
		s.declineNext = false
		return nil, &apiError{status: http.StatusPaymentRequired, typ: "card_error", code: "card_declined", param: "", msg: "Your card was declined."}
	}
	status, received := "requires_payment_method", int64(0)
	switch {
	case confirm:
		status, received = "succeeded", amount
	case pm != "":
		status = "requires_confirmation"
	}
	id := s.newID("pi")
	out := map[string]any{"id": id, "object": "payment_intent", "amount": amount, "amount_received": received, "currency": str(in, "currency"),
		"customer": nilIfEmpty(cust), "payment_method": nilIfEmpty(pm), "status": status,
		"metadata": sub(in, "metadata"), "created": time.Now().Unix(), "livemode": false}
	s.objects[id] = out
	return out, nil
}

func (s *Server) updateSubscription(id string, in map[string]any) (map[string]any, *apiError) {
	out, e := s.get("subscription", id)
	if e != nil {
		return nil, e
	}
	if e := only(in, "", "items", "proration_behavior", "metadata", "cancel_at_period_end", "expand"); e != nil {
		return nil, e
	}
	if first := sub(sub(in, "items"), "0"); str(first, "price") != "" {
		data := out["items"].(map[string]any)["data"].([]any)
		item := data[0].(map[string]any)
		if str(first, "id") != "" && str(first, "id") != str(item, "id") {
			return nil, invalid("resource_missing", "items[0][id]", "No such subscription item: '%s'", str(first, "id"))
		}
		item["price"] = map[string]any{"id": str(first, "price"), "object": "price"}
	}
	for k, v := range sub(in, "metadata") {
		out["metadata"].(map[string]any)[k] = v
	}
	return out, nil
}
