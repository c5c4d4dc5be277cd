package stripefake_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v82"

	"github.com/switchboard/switchboard/internal/billing"
	"github.com/switchboard/switchboard/internal/billing/stripefake"
)

// endpoint is a webhook endpoint that checks each delivery's signature as
// the server does and keeps the events.
type endpoint struct {
	*httptest.Server
	mu     sync.Mutex
	events []map[string]any
	status int
}

func newEndpoint(t *testing.T, secret string) *endpoint {
	t.Helper()
	e := &endpoint{status: http.StatusOK}
	e.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := billing.VerifySignature(body, r.Header.Get("Stripe-Signature"), secret, time.Now()); err != nil {
			http.Error(w, "bad signature", http.StatusBadRequest)
			return
		}
		var ev map[string]any
		if err := json.Unmarshal(body, &ev); err != nil {
			http.Error(w, "not JSON", http.StatusBadRequest)
			return
		}
		e.mu.Lock()
		defer e.mu.Unlock()
		e.events = append(e.events, ev)
		w.WriteHeader(e.status)
	}))
	t.Cleanup(e.Close)
	return e
}

func (e *endpoint) received() []map[string]any {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]map[string]any(nil), e.events...)
}

// noRedirects is a browser that shows where it is sent instead of going.
var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func get(t *testing.T, u string) (int, string) {
	t.Helper()
	res, err := noRedirects.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func pay(t *testing.T, u string) *http.Response {
	t.Helper()
	res, err := noRedirects.PostForm(u, url.Values{})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res
}

func object(ev map[string]any) map[string]any {
	return ev["data"].(map[string]any)["object"].(map[string]any)
}

func TestFake_CheckoutPagePaysSendsTheSignedEventAndRedirects(t *testing.T) {
	t.Parallel()
	f := stripefake.Start(t, "sk_test_fake")
	hook := newEndpoint(t, "whsec_page")
	f.SendWebhooksTo(hook.URL, "whsec_page")
	c := client(f)
	cust, err := c.V1Customers.Create(context.Background(), &stripe.CustomerCreateParams{})
	if err != nil {
		t.Fatal(err)
	}
	p := &stripe.CheckoutSessionCreateParams{Mode: stripe.String("payment"), Customer: stripe.String(cust.ID),
		SuccessURL: stripe.String("http://app.test/billing/success?session_id={CHECKOUT_SESSION_ID}"), CancelURL: stripe.String("http://app.test/billing/cancelled"),
		Metadata: map[string]string{"kind": "credit_pack"},
		LineItems: []*stripe.CheckoutSessionCreateLineItemParams{{Quantity: stripe.Int64(1),
			PriceData: &stripe.CheckoutSessionCreateLineItemPriceDataParams{Currency: stripe.String("usd"), UnitAmount: stripe.Int64(4500),
				ProductData: &stripe.CheckoutSessionCreateLineItemPriceDataProductDataParams{Name: stripe.String("5,000 credits")}}}}}
	cs, err := c.V1CheckoutSessions.Create(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(cs.URL, f.URL+"/c/pay/") {
		t.Fatalf("checkout URL %s is not the fake's page", cs.URL)
	}
	status, html := get(t, cs.URL)
	for _, want := range []string{`id="pay"`, "1 × 5,000 credits at 45.00 USD", `href="http://app.test/billing/cancelled"`} {
		if status != http.StatusOK || !strings.Contains(html, want) {
			t.Fatalf("checkout page (%d) lacks %q:\n%s", status, want, html)
		}
	}
	if len(hook.received()) != 0 {
		t.Fatal("an event before paying")
	}

	res := pay(t, cs.URL)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "http://app.test/billing/success?session_id="+cs.ID {
		t.Fatalf("pay: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	evs := hook.received()
	if len(evs) != 1 || evs[0]["type"] != "checkout.session.completed" {
		t.Fatalf("events %v", evs)
	}
	got := object(evs[0])
	if got["id"] != cs.ID || got["payment_status"] != "paid" || got["status"] != "complete" || got["payment_intent"] == nil ||
		got["metadata"].(map[string]any)["kind"] != "credit_pack" {
		t.Fatalf("completed session %v", got)
	}
	if d := f.Deliveries(); len(d) != 1 || d[0].Status != http.StatusOK || d[0].EventID != evs[0]["id"] {
		t.Fatalf("deliveries %+v", d)
	}
	// Paid once: the page says so and pays nothing more.
	if res := pay(t, cs.URL); res.StatusCode != http.StatusBadRequest || len(hook.received()) != 1 {
		t.Fatalf("second payment: %d, %d events", res.StatusCode, len(hook.received()))
	}
	if _, html := get(t, cs.URL); strings.Contains(html, `id="pay"`) || !strings.Contains(html, "is complete") {
		t.Fatalf("a paid session's page:\n%s", html)
	}

	// A refused delivery stops at an error page rather than pretending.
	hook.mu.Lock()
	hook.status = http.StatusInternalServerError
	hook.mu.Unlock()
	again, err := c.V1CheckoutSessions.Create(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	if res := pay(t, again.URL); res.StatusCode != http.StatusBadGateway {
		t.Fatalf("refused delivery: %d", res.StatusCode)
	}
	if status, _ := get(t, f.URL+"/c/pay/cs_nothing"); status != http.StatusNotFound {
		t.Errorf("unknown session: %d", status)
	}
}

func TestFake_SubscriptionCheckoutCreatesTheSubscriptionAndThePortalShowsIt(t *testing.T) {
	t.Parallel()
	f := stripefake.Start(t, "sk_test_fake")
	hook := newEndpoint(t, "whsec_page")
	f.SendWebhooksTo(hook.URL, "whsec_page")
	c := client(f)
	ctx := context.Background()
	cust, err := c.V1Customers.Create(ctx, &stripe.CustomerCreateParams{})
	if err != nil {
		t.Fatal(err)
	}
	cs, err := c.V1CheckoutSessions.Create(ctx, &stripe.CheckoutSessionCreateParams{Mode: stripe.String("subscription"), Customer: stripe.String(cust.ID),
		SuccessURL:       stripe.String("http://app.test/billing/success?session_id={CHECKOUT_SESSION_ID}"),
		LineItems:        []*stripe.CheckoutSessionCreateLineItemParams{{Price: stripe.String("price_pro"), Quantity: stripe.Int64(1)}},
		SubscriptionData: &stripe.CheckoutSessionCreateSubscriptionDataParams{Metadata: map[string]string{"workspace_id": "usr_1"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, html := get(t, cs.URL); !strings.Contains(html, "1 × price_pro") {
		t.Fatalf("subscription checkout page:\n%s", html)
	}
	if res := pay(t, cs.URL); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("pay: %d", res.StatusCode)
	}
	evs := hook.received()
	if len(evs) != 2 || evs[0]["type"] != "customer.subscription.created" || evs[1]["type"] != "checkout.session.completed" {
		t.Fatalf("events %v", evs)
	}
	sub := object(evs[0])
	if sub["customer"] != cust.ID || sub["status"] != "active" || sub["metadata"].(map[string]any)["workspace_id"] != "usr_1" {
		t.Fatalf("subscription %v", sub)
	}
	if object(evs[1])["subscription"] != sub["id"] {
		t.Fatalf("session %v does not name subscription %s", object(evs[1]), sub["id"])
	}
	// The subscription is real to the API too.
	if s, err := c.V1Subscriptions.Retrieve(ctx, sub["id"].(string), nil); err != nil || s.Items.Data[0].Price.ID != "price_pro" {
		t.Fatalf("retrieve: %+v %v", s, err)
	}

	ps, err := c.V1BillingPortalSessions.Create(ctx, &stripe.BillingPortalSessionCreateParams{Customer: stripe.String(cust.ID),
		ReturnURL: stripe.String("http://app.test/billing")})
	if err != nil {
		t.Fatal(err)
	}
	status, html := get(t, ps.URL)
	if status != http.StatusOK || !strings.Contains(html, sub["id"].(string)+": price_pro, active") || !strings.Contains(html, `href="http://app.test/billing"`) {
		t.Fatalf("portal page (%d):\n%s", status, html)
	}
}

// Events signed by the fake pass the server's check, and only under the
// same secret.
func TestFake_SignMatchesStripeSignatureCheck(t *testing.T) {
	t.Parallel()
	payload := []byte(`{"id":"evt_1"}`)
	now := time.Now()
	if err := billing.VerifySignature(payload, stripefake.Sign(payload, "whsec_a", now), "whsec_a", now); err != nil {
		t.Fatal(err)
	}
	if err := billing.VerifySignature(payload, stripefake.Sign(payload, "whsec_a", now), "whsec_b", now); err == nil {
		t.Fatal("verified under another secret")
	}
}
