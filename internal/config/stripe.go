package config

import (
	"net/url"
	"strings"
)

// StripeConfig holds the billing settings. Without SecretKey the billing
// endpoints answer NOT_FOUND; without WebhookSecret every webhook is refused.
type StripeConfig struct {
	SecretKey     string
	WebhookSecret string
	// APIURL is Stripe's API base URL (a local fake in tests).
	APIURL string
	// PlanPrices maps a plan name (STARTER, PRO, …) to the Stripe price id
	// of its subscription.
	PlanPrices map[string]string
}

type rawStripeConfig struct {
	secretKey, webhookSecret, apiURL, planPrices string
}

var stripePlans = map[string]bool{"STARTER": true, "PRO": true, "BUSINESS": true, "ENTERPRISE": true}

func stripeSettings(c *rawConfig) []setting {
	s := &c.stripe
	return []setting{
		{"stripe-secret-key", "SWITCHBOARD_STRIPE_SECRET_KEY", "", "Stripe API secret key (sk_…); empty disables billing", &s.secretKey},
		{"stripe-webhook-secret", "SWITCHBOARD_STRIPE_WEBHOOK_SECRET", "", "signing secret of the Stripe webhook endpoint /hooks/stripe (whsec_…)", &s.webhookSecret},
		{"stripe-api-url", "SWITCHBOARD_STRIPE_API_URL", "https://api.stripe.com", "Stripe API base URL", &s.apiURL},
		{"stripe-plan-prices", "SWITCHBOARD_STRIPE_PLAN_PRICES", "", "subscription price per plan, e.g. STARTER=price_1,PRO=price_2", &s.planPrices},
	}
}

func (r rawStripeConfig) validate(bad func(name, format string, args ...any)) StripeConfig {
	s := StripeConfig{SecretKey: r.secretKey, WebhookSecret: r.webhookSecret, APIURL: strings.TrimRight(r.apiURL, "/"), PlanPrices: map[string]string{}}
	if s.APIURL != "" {
		if u, err := url.Parse(s.APIURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("stripe-api-url", "%q must be an absolute http(s) URL", r.apiURL)
		}
	}
	for _, pair := range strings.Split(r.planPrices, ",") {
		if pair = strings.TrimSpace(pair); pair == "" {
			continue
		}
		plan, price, ok := strings.Cut(pair, "=")
		plan, price = strings.ToUpper(strings.TrimSpace(plan)), strings.TrimSpace(price)
		if !ok || !stripePlans[plan] || price == "" {
			bad("stripe-plan-prices", "%q must be PLAN=price_id with PLAN one of STARTER, PRO, BUSINESS, ENTERPRISE", pair)
			continue
		}
		s.PlanPrices[plan] = price
	}
	return s
}
