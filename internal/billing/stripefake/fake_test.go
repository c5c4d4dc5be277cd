package stripefake_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/stripe/stripe-go/v82"

	"github.com/switchboard/switchboard/internal/billing/stripefake"
)

func client(f *stripefake.Server) *stripe.Client {
	b := stripe.NewBackendsWithConfig(&stripe.BackendConfig{URL: stripe.String(f.URL), MaxNetworkRetries: stripe.Int64(0),
		LeveledLogger: &stripe.LeveledLogger{Level: stripe.LevelNull}})
	return stripe.NewClient(f.Key, stripe.WithBackends(b))
}

// stripeErr asserts err is a Stripe API error with this status and code.
func stripeErr(t *testing.T, err error, status int, code string) {
	t.Helper()
	var se *stripe.Error
	if !errors.As(err, &se) || se.HTTPStatusCode != status || string(se.Code) != code {
		t.Fatalf("got %v, want a Stripe %d %q error", err, status, code)
	}
}

func checkout(t *testing.T, c *stripe.Client, cust string, saveCard bool) *stripe.CheckoutSession {
	t.Helper()
	p := &stripe.CheckoutSessionCreateParams{Mode: stripe.String("payment"), Customer: stripe.String(cust),
		SuccessURL: stripe.String("https://example.test/ok"),
		LineItems: []*stripe.CheckoutSessionCreateLineItemParams{{Quantity: stripe.Int64(1),
			PriceData: &stripe.CheckoutSessionCreateLineItemPriceDataParams{Currency: stripe.String("usd"), UnitAmount: stripe.Int64(1000),
				ProductData: &stripe.CheckoutSessionCreateLineItemPriceDataProductDataParams{Name: stripe.String("pack")}}}}}
	if saveCard {
		p.PaymentIntentData = &stripe.CheckoutSessionCreatePaymentIntentDataParams{SetupFutureUsage: stripe.String("off_session")}
	}
	cs, err := c.V1CheckoutSessions.Create(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func offSession(cust, pm string) *stripe.PaymentIntentCreateParams {
	p := &stripe.PaymentIntentCreateParams{Amount: stripe.Int64(1000), Currency: stripe.String("usd"), Customer: stripe.String(cust),
		OffSession: stripe.Bool(true), Confirm: stripe.Bool(true)}
	if pm != "" {
		p.PaymentMethod = stripe.String(pm)
	}
	return p
}

func TestFake_OffSessionChargeNeedsACardSavedForTheCustomer(t *testing.T) {
	t.Parallel()
	f := stripefake.Start(t, "sk_test_fake")
	c := client(f)
	ctx := context.Background()
	cust, err := c.V1Customers.Create(ctx, &stripe.CustomerCreateParams{Email: stripe.String("a@example.com")})
	if err != nil {
		t.Fatal(err)
	}

	// No payment method: Stripe does not fall back to any default.
	_, err = c.V1PaymentIntents.Create(ctx, offSession(cust.ID, ""))
	stripeErr(t, err, http.StatusBadRequest, "payment_intent_unexpected_state")

	// A card paid without setup_future_usage is not attached: it can be
	// neither the customer's default nor charged off-session.
	once, err := f.CompleteCheckout(checkout(t, c, cust.ID, false).ID)
	if err != nil {
		t.Fatal(err)
	}
	pmOnce := f.Object(once["payment_intent"].(string))["payment_method"].(string)
	_, err = c.V1Customers.Update(ctx, cust.ID, &stripe.CustomerUpdateParams{InvoiceSettings: &stripe.CustomerUpdateInvoiceSettingsParams{DefaultPaymentMethod: stripe.String(pmOnce)}})
	stripeErr(t, err, http.StatusBadRequest, "resource_missing")
	if _, err := c.V1PaymentIntents.Create(ctx, offSession(cust.ID, pmOnce)); err == nil {
		t.Fatal("charged off-session a card the customer does not have")
	}

	// A card paid with setup_future_usage=off_session is the customer's:
	// it can become the default and be charged off-session.
	saved, err := f.CompleteCheckout(checkout(t, c, cust.ID, true).ID)
	if err != nil {
		t.Fatal(err)
	}
	pi := f.Object(saved["payment_intent"].(string))
	pm := pi["payment_method"].(string)
	if saved["payment_status"] != "paid" || pi["setup_future_usage"] != "off_session" || f.Object(pm)["customer"] != cust.ID {
		t.Fatalf("completed checkout %v, payment intent %v", saved, pi)
	}
	got, err := c.V1Customers.Update(ctx, cust.ID, &stripe.CustomerUpdateParams{InvoiceSettings: &stripe.CustomerUpdateInvoiceSettingsParams{DefaultPaymentMethod: stripe.String(pm)}})
	if err != nil || got.InvoiceSettings.DefaultPaymentMethod.ID != pm || f.DefaultPaymentMethod(cust.ID) != pm {
		t.Fatalf("set default: %+v %v", got, err)
	}
	charge, err := c.V1PaymentIntents.Create(ctx, offSession(cust.ID, pm))
	if err != nil || charge.Status != stripe.PaymentIntentStatusSucceeded || charge.PaymentMethod.ID != pm {
		t.Fatalf("off-session charge: %+v %v", charge, err)
	}
	// Another customer cannot use it.
	other, err := c.V1Customers.Create(ctx, &stripe.CustomerCreateParams{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.V1PaymentIntents.Create(ctx, offSession(other.ID, pm)); err == nil {
		t.Fatal("charged another customer's card")
	}
	f.DeclineNext()
	_, err = c.V1PaymentIntents.Create(ctx, offSession(cust.ID, pm))
	stripeErr(t, err, http.StatusPaymentRequired, "card_declined")
}

func TestFake_RefusesWhatStripeRefuses(t *testing.T) {
	t.Parallel()
	f := stripefake.Start(t, "sk_test_fake")
	c := client(f)
	ctx := context.Background()
	cust, err := c.V1Customers.Create(ctx, &stripe.CustomerCreateParams{})
	if err != nil {
		t.Fatal(err)
	}
	unknown := &stripe.CustomerCreateParams{}
	unknown.AddExtra("favourite_colour", "green")
	_, err = c.V1Customers.Create(ctx, unknown)
	stripeErr(t, err, http.StatusBadRequest, "parameter_unknown")

	sub := &stripe.CheckoutSessionCreateParams{Mode: stripe.String("subscription"), Customer: stripe.String(cust.ID),
		SuccessURL:        stripe.String("https://example.test/ok"),
		LineItems:         []*stripe.CheckoutSessionCreateLineItemParams{{Price: stripe.String("price_pro"), Quantity: stripe.Int64(1)}},
		PaymentIntentData: &stripe.CheckoutSessionCreatePaymentIntentDataParams{SetupFutureUsage: stripe.String("off_session")}}
	if _, err := c.V1CheckoutSessions.Create(ctx, sub); err == nil || !strings.Contains(err.Error(), "payment_intent_data") {
		t.Fatalf("payment_intent_data in subscription mode: %v", err)
	}
	noURL := &stripe.CheckoutSessionCreateParams{Mode: stripe.String("payment"), Customer: stripe.String(cust.ID),
		LineItems: []*stripe.CheckoutSessionCreateLineItemParams{{Price: stripe.String("price_pro"), Quantity: stripe.Int64(1)}}}
	_, err = c.V1CheckoutSessions.Create(ctx, noURL)
	stripeErr(t, err, http.StatusBadRequest, "parameter_missing")
	_, err = c.V1PaymentIntents.Create(ctx, &stripe.PaymentIntentCreateParams{Currency: stripe.String("usd")})
	stripeErr(t, err, http.StatusBadRequest, "parameter_missing")
	_, err = c.V1Customers.Retrieve(ctx, "cus_nobody", nil)
	stripeErr(t, err, http.StatusNotFound, "resource_missing")

	wrongKey := stripe.NewClient("sk_test_wrong", stripe.WithBackends(stripe.NewBackendsWithConfig(&stripe.BackendConfig{
		URL: stripe.String(f.URL), MaxNetworkRetries: stripe.Int64(0), LeveledLogger: &stripe.LeveledLogger{Level: stripe.LevelNull}})))
	var se *stripe.Error
	if _, err := wrongKey.V1Customers.Create(ctx, &stripe.CustomerCreateParams{}); !errors.As(err, &se) || se.HTTPStatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong key: %v", err)
	}
}

func TestFake_MountedUnderAPrefixAnswersOnlyThere(t *testing.T) {
	t.Parallel()
	f := stripefake.StartAt(t, "sk_test_fake", "/stripe-prefix")
	if !strings.HasSuffix(f.URL, "/stripe-prefix") {
		t.Fatalf("URL %s", f.URL)
	}
	root := strings.TrimSuffix(f.URL, "/stripe-prefix")
	req, _ := http.NewRequest("POST", root+"/v1/customers", strings.NewReader("email=a%40example.com"))
	req.Header.Set("Authorization", "Bearer sk_test_fake")
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound || f.Calls("POST /v1/customers") != 0 {
		t.Fatalf("outside the prefix: %d, %d calls", res.StatusCode, f.Calls("POST /v1/customers"))
	}
	req, _ = http.NewRequest("POST", f.URL+"/v1/customers", strings.NewReader("email=a%40example.com"))
	req.Header.Set("Authorization", "Bearer sk_test_fake")
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if res, err = http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK || f.Calls("POST /v1/customers") != 1 {
		t.Fatalf("under the prefix: %d", res.StatusCode)
	}
}
