// Package billing sells credits and plans through Stripe: Checkout Sessions
// for credit packs and subscriptions, the customer portal, signed webhooks
// that credit purchases and move plans, and auto top-up charges.
//
// Stripe is the source of truth for money; every webhook event is applied at
// most once (its id is stored in the transaction of its effect), in any
// delivery order, and every effect is audited with the event id.
package billing

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/stripe/stripe-go/v82"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/credit"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/ids"
	"github.com/switchboard/switchboard/internal/jobs"
)

// Pack is a credit pack sold through Checkout.
type Pack struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Credits in millicredits.
	Credits    int64  `json:"credits"`
	PriceCents int64  `json:"priceCents"`
	Currency   string `json:"currency"`
}

// Packs is the price list of credit packs. It is data: the checkout, the
// auto top-up and GET /api/v1/billing/packs all read it.
var Packs = []Pack{
	{ID: "credits_1000", Name: "1,000 credits", Credits: 1_000 * credit.PerCredit, PriceCents: 1_000, Currency: "usd"},
	{ID: "credits_5000", Name: "5,000 credits", Credits: 5_000 * credit.PerCredit, PriceCents: 4_500, Currency: "usd"},
	{ID: "credits_20000", Name: "20,000 credits", Credits: 20_000 * credit.PerCredit, PriceCents: 16_000, Currency: "usd"},
}

func packByID(id string) (Pack, bool) {
	for _, p := range Packs {
		if p.ID == id {
			return p, true
		}
	}
	return Pack{}, false
}

func packByCredits(mc int64) (Pack, bool) {
	for _, p := range Packs {
		if p.Credits == mc {
			return p, true
		}
	}
	return Pack{}, false
}

// TopUpAmounts lists what auto top-up can buy: the packs' amounts.
func TopUpAmounts() []int64 {
	out := make([]int64, len(Packs))
	for i, p := range Packs {
		out[i] = p.Credits
	}
	return out
}

// Config configures Stripe.
type Config struct {
	// SecretKey is the Stripe API key; empty disables billing endpoints.
	SecretKey string
	// WebhookSecret verifies Stripe-Signature; empty refuses every webhook.
	WebhookSecret string
	// APIURL is Stripe's API base URL (https://api.stripe.com).
	APIURL string
	// PublicURL is where Checkout returns users to.
	PublicURL string
	// PlanPrices maps plans to the Stripe price ids of their subscriptions.
	PlanPrices map[actor.Plan]string
	// HTTPClient talks to Stripe (default: a client with a timeout).
	HTTPClient *http.Client
}

// AccountStore is what the owner of a workspace kind (auth for users, org
// for organizations) offers billing.
type AccountStore interface {
	BillingAccount(ctx context.Context, q db.Querier, id string) (plan actor.Plan, customerID string, found bool, err error)
	AccountByStripeCustomer(ctx context.Context, q db.Querier, customerID string) (id string, found bool, err error)
	SetStripeCustomerTx(ctx context.Context, tx *db.Tx, id, customerID string) (string, error)
	SetPlanTx(ctx context.Context, tx *db.Tx, a actor.Actor, id string, plan actor.Plan, meta map[string]any) (actor.Plan, error)
}

// Directory finds a workspace's account by its id's prefix: usr_ in the
// users' store, org_ in the organizations'.
type Directory struct {
	Users AccountStore
	Orgs  AccountStore
}

func (d Directory) store(id string) AccountStore {
	switch {
	case ids.Valid(ids.Organization, id):
		return d.Orgs
	case ids.Valid(ids.User, id):
		return d.Users
	}
	return nil
}

// WorkspaceExists reports whether a live user or organization has this id.
func (d Directory) WorkspaceExists(ctx context.Context, q db.Querier, id string) (bool, error) {
	st := d.store(id)
	if st == nil {
		return false, nil
	}
	_, _, ok, err := st.BillingAccount(ctx, q, id)
	return ok, err
}

// ByCustomer finds the workspace of a Stripe customer.
func (d Directory) ByCustomer(ctx context.Context, q db.Querier, customerID string) (string, bool, error) {
	if customerID == "" {
		return "", false, nil
	}
	for _, st := range []AccountStore{d.Users, d.Orgs} {
		id, ok, err := st.AccountByStripeCustomer(ctx, q, customerID)
		if err != nil || ok {
			return id, ok, err
		}
	}
	return "", false, nil
}

// Service is billing.
type Service struct {
	cfg      Config
	db       *db.DB
	credits  *credit.Service
	accounts Directory
	runner   *jobs.Runner
	stripe   *stripe.Client
	log      *slog.Logger
	prices   map[string]actor.Plan
}

// New returns the service. When cfg.SecretKey is set it also arms auto
// top-up on credits.
func New(d *db.DB, credits *credit.Service, accounts Directory, runner *jobs.Runner, cfg Config, log *slog.Logger) *Service {
	if log == nil {
		log = slog.Default()
	}
	if cfg.APIURL == "" {
		cfg.APIURL = stripe.APIURL
	}
	cfg.APIURL = strings.TrimRight(cfg.APIURL, "/")
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: stripeTimeout}
	}
	s := &Service{cfg: cfg, db: d, credits: credits, accounts: accounts, runner: runner, log: log, prices: map[string]actor.Plan{}}
	for p, price := range cfg.PlanPrices {
		s.prices[price] = p
	}
	if cfg.SecretKey != "" {
		base, client := apiBase(cfg.APIURL, cfg.HTTPClient)
		backends := stripe.NewBackendsWithConfig(&stripe.BackendConfig{
			URL: stripe.String(base), HTTPClient: client, MaxNetworkRetries: stripe.Int64(2),
			LeveledLogger: &stripe.LeveledLogger{Level: stripe.LevelError},
		})
		s.stripe = stripe.NewClient(cfg.SecretKey, stripe.WithBackends(backends))
		credits.OnThresholdCrossed(s.enqueueTopUp)
	}
	return s
}

// apiBase splits an API URL with a path ("http://proxy:8080/stripe-prefix")
// into the origin stripe-go is given and a client that puts the path back
// in front of every request. stripe-go cannot take the path itself: it
// reads the API version from the start of the request path, and would find
// the prefix there instead of /v1. A trailing /v1 is dropped, as stripe-go
// drops it from a URL without a path.
func apiBase(apiURL string, client *http.Client) (string, *http.Client) {
	u, err := url.Parse(apiURL)
	if err != nil {
		return apiURL, client // config validated it; stripe-go reports the rest
	}
	prefix := strings.TrimSuffix(strings.TrimRight(u.Path, "/"), "/v1")
	if prefix == "" {
		return apiURL, client
	}
	origin := (&url.URL{Scheme: u.Scheme, Host: u.Host}).String()
	next := client.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	c := *client
	c.Transport = prefixTransport{prefix: prefix, next: next}
	return origin, &c
}

// prefixTransport sends each request under a path prefix. It changes a copy:
// stripe-go looks at its own request again when the answer comes.
type prefixTransport struct {
	prefix string
	next   http.RoundTripper
}

func (p prefixTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	out := r.Clone(r.Context())
	out.URL.Path = p.prefix + r.URL.Path
	out.URL.RawPath = ""
	return p.next.RoundTrip(out)
}

func (s *Service) enabled() error {
	if s.stripe == nil {
		return apperr.New(apperr.NotFound, "billing is not enabled on this server")
	}
	return nil
}

// PackList returns the credit packs for sale.
func (s *Service) PackList() []Pack { return append([]Pack(nil), Packs...) }

// systemFor is the actor webhooks and jobs act as for a workspace.
func systemFor(ws string) actor.Actor { return credit.SystemActor(ws) }
