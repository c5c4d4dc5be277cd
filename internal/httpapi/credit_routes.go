package httpapi

import (
	"encoding/csv"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/billing"
	"github.com/switchboard/switchboard/internal/credit"
)

type estimateResponse struct {
	Action   string `json:"action"`
	Quantity int64  `json:"quantity"`
	// Millicredits is the cost; Credits the same as a decimal string.
	Millicredits int64  `json:"millicredits"`
	Credits      string `json:"credits"`
}

var txParams = append([]param{
	{"type", "purchase, usage, refund, bonus or grant."},
	{"from", "RFC 3339 time, inclusive."}, {"to", "RFC 3339 time, exclusive."},
	{"format", "json (default) or csv: every matching row (up to 100,000) as a CSV download."},
}, pageParams...)

func txFilter(r *http.Request) (credit.TxFilter, error) {
	q := r.URL.Query()
	f := credit.TxFilter{Type: credit.Type(q.Get("type")), Cursor: q.Get("cursor")}
	var err error
	if f.Limit, err = queryInt(r, "limit", 1, 200); err != nil {
		return f, err
	}
	if f.From, err = queryTime(r, "from"); err != nil {
		return f, err
	}
	if f.To, err = queryTime(r, "to"); err != nil {
		return f, err
	}
	return f, nil
}

func (s *Server) creditRoutes() {
	if s.Credits == nil {
		return
	}
	s.handle(route{method: "GET", path: "/api/v1/credits", tag: "credits", access: signedIn, perm: actor.PermCreditsRead,
		summary: "Your workspace's balance, reserved and available credits, lifetime credits and settings (millicredits).", response: credit.Balance{},
		handler: func(w http.ResponseWriter, r *http.Request) error {
			b, err := s.Credits.GetBalance(r.Context(), s.actorOf(r))
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, b)
			return nil
		}})
	s.handle(route{method: "GET", path: "/api/v1/credits/transactions", doc: routeDoc{produces: []string{"text/csv"}}, tag: "credits", access: signedIn, perm: actor.PermCreditsRead,
		summary: "Your workspace's ledger, newest first; format=csv exports it.", response: credit.TxPage{}, query: txParams,
		handler: func(w http.ResponseWriter, r *http.Request) error {
			f, err := txFilter(r)
			if err != nil {
				return err
			}
			switch r.URL.Query().Get("format") {
			case "", "json":
			case "csv":
				return s.writeLedgerCSV(w, r, f)
			default:
				return apperr.Invalid(apperr.FieldError{Field: "format", Message: "must be json or csv"})
			}
			p, err := s.Credits.Transactions(r.Context(), s.actorOf(r), f)
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, p)
			return nil
		}})
	s.handle(route{method: "PUT", path: "/api/v1/credits/settings", tag: "credits", access: signedIn,
		summary: "Change auto top-up and overage (the workspace owner; an organization's ORG_OWNER).", request: credit.SettingsInput{}, response: credit.Balance{},
		handler: func(w http.ResponseWriter, r *http.Request) error {
			var in credit.SettingsInput
			if err := decode(r, &in); err != nil {
				return err
			}
			b, err := s.Credits.UpdateSettings(r.Context(), s.actorOf(r), in, billing.TopUpAmounts())
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, b)
			return nil
		}})
	s.handle(route{method: "GET", path: "/api/v1/credits/costs", tag: "credits", access: signedIn, keyPerm: actor.PermCreditsRead,
		summary: "The CREDIT_COSTS table: millicredits per unit of each metered action.", response: page[credit.Cost]{},
		handler: func(w http.ResponseWriter, r *http.Request) error {
			return writeWholePage(w, r, credit.Costs())
		}})
	s.handle(route{method: "GET", path: "/api/v1/credits/estimate", tag: "credits", access: signedIn, keyPerm: actor.PermCreditsRead,
		summary: "What a quantity of an action costs, rounded up to the millicredit.", response: estimateResponse{},
		query: []param{{"action", "An action of the costs table, e.g. ai.gpt-4o-mini."}, {"quantity", "Units (tokens, executions …)."}},
		handler: func(w http.ResponseWriter, r *http.Request) error {
			action := r.URL.Query().Get("action")
			qty, err := strconv.ParseInt(r.URL.Query().Get("quantity"), 10, 64)
			if err != nil {
				return apperr.Invalid(apperr.FieldError{Field: "quantity", Message: "must be a whole number"})
			}
			mc, err := credit.EstimateCost(action, qty)
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, estimateResponse{Action: action, Quantity: qty, Millicredits: mc, Credits: credit.Credits(mc)})
			return nil
		}})
	s.handle(route{method: "POST", path: "/api/v1/admin/workspaces/{id}/credits", doc: routeDoc{errors: []int{402, 409}}, tag: "admin", access: signedIn, perm: actor.PermCreditsGrant,
		status: http.StatusCreated, summary: "Credit a workspace by hand: grant, bonus or refund (ADMIN, SUPER_ADMIN; audited).",
		request: credit.GrantInput{}, response: credit.Result{}, idempotent: true,
		handler: func(w http.ResponseWriter, r *http.Request) error {
			var in credit.GrantInput
			if err := decode(r, &in); err != nil {
				return err
			}
			if in.IdempotencyKey == "" {
				in.IdempotencyKey = idempotencyKeyOf(r)
			}
			res, err := s.Credits.Grant(r.Context(), s.actorOf(r), r.PathValue("id"), in)
			if err != nil {
				return err
			}
			status := http.StatusCreated
			if res.Replayed {
				status = http.StatusOK
			}
			writeJSON(w, status, res)
			return nil
		}})
	if s.Limits != nil {
		s.handle(route{method: "GET", path: "/api/v1/usage", tag: "credits", access: signedIn, perm: actor.PermCreditsRead,
			summary:  "Your workspace's usage against its plan's limits (executions today, AI tokens this month, storage, gateways, plugins).",
			response: credit.UsageReport{},
			handler: func(w http.ResponseWriter, r *http.Request) error {
				rep, err := s.Limits.Usage(r.Context(), s.actorOf(r))
				if err != nil {
					return err
				}
				writeJSON(w, http.StatusOK, rep)
				return nil
			}})
	}
	s.billingRoutes()
}

// csvCell keeps a spreadsheet from running a cell as a formula.
func csvCell(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}

// writeLedgerCSV streams every matching ledger row, newest first.
func (s *Server) writeLedgerCSV(w http.ResponseWriter, r *http.Request, f credit.TxFilter) error {
	a := s.actorOf(r)
	f.Limit = 1000
	first, err := s.Credits.Transactions(r.Context(), a, f)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="credits-`+time.Now().UTC().Format("20060102")+`.csv"`)
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"id", "createdAt", "type", "amount", "credits", "balanceAfter", "description", "idempotencyKey", "reversesId"})
	page, rows := first, 0
	for {
		for _, t := range page.Items {
			_ = cw.Write([]string{t.ID, t.CreatedAt.Format(time.RFC3339Nano), string(t.Type), strconv.FormatInt(t.Amount, 10),
				credit.Credits(t.Amount), strconv.FormatInt(t.BalanceAfter, 10), csvCell(t.Description), csvCell(t.IdempotencyKey), t.ReversesID})
			rows++
		}
		if page.NextCursor == nil || rows >= 100_000 {
			break
		}
		f.Cursor = *page.NextCursor
		if page, err = s.Credits.Transactions(r.Context(), a, f); err != nil {
			// The header is sent; all that is left is to stop.
			s.Log.Error("ledger export", "requestId", requestIDFrom(r.Context()), "error", err)
			break
		}
	}
	cw.Flush()
	return nil
}

func (s *Server) billingRoutes() {
	if s.Billing == nil {
		return
	}
	s.handle(route{method: "GET", path: "/api/v1/billing/packs", doc: routeDoc{errors: []int{404}}, tag: "billing", access: signedIn,
		summary: "The credit packs for sale (credits in millicredits, prices in cents).", response: page[billing.Pack]{},
		handler: func(w http.ResponseWriter, r *http.Request) error {
			return writeWholePage(w, r, s.Billing.PackList())
		}})
	s.handle(route{method: "GET", path: "/api/v1/billing", tag: "billing", access: signedIn, perm: actor.PermCreditsRead,
		summary:  "Your workspace's billing: whether Stripe is enabled here, whether you may buy, the plan, its subscription's state, and every plan with its limits and whether it is sold.",
		response: billing.Overview{},
		handler: func(w http.ResponseWriter, r *http.Request) error {
			out, err := s.Billing.Overview(r.Context(), s.actorOf(r))
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, out)
			return nil
		}})
	s.handle(route{method: "POST", path: "/api/v1/billing/checkout", doc: routeDoc{errors: []int{404}}, tag: "billing", access: signedIn,
		summary: "A Stripe Checkout Session buying a credit pack; credits arrive when Stripe reports the payment paid.",
		request: billing.CheckoutInput{}, response: billing.Session{}, idempotent: true,
		handler: func(w http.ResponseWriter, r *http.Request) error {
			var in billing.CheckoutInput
			if err := decode(r, &in); err != nil {
				return err
			}
			out, err := s.Billing.Checkout(r.Context(), s.actorOf(r), in)
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, out)
			return nil
		}})
	s.handle(route{method: "POST", path: "/api/v1/billing/subscription", doc: routeDoc{errors: []int{404}}, tag: "billing", access: signedIn,
		summary: "Subscribe to a plan (a Checkout Session) or switch the running subscription; the plan follows Stripe's confirmation.",
		request: billing.SubscriptionInput{}, response: billing.Session{}, idempotent: true,
		handler: func(w http.ResponseWriter, r *http.Request) error {
			var in billing.SubscriptionInput
			if err := decode(r, &in); err != nil {
				return err
			}
			out, err := s.Billing.Subscribe(r.Context(), s.actorOf(r), in)
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, out)
			return nil
		}})
	s.handle(route{method: "POST", path: "/api/v1/billing/portal", doc: routeDoc{errors: []int{404}}, tag: "billing", access: signedIn,
		summary: "A Stripe customer portal session: change or cancel the plan, manage payment methods.", response: billing.Session{},
		handler: func(w http.ResponseWriter, r *http.Request) error {
			out, err := s.Billing.Portal(r.Context(), s.actorOf(r))
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, out)
			return nil
		}})
	s.handle(route{method: "POST", path: "/hooks/stripe", doc: routeDoc{rawBody: true, errors: []int{404, 409}}, tag: "billing",
		summary:  "Stripe webhook: verified by Stripe-Signature; each event applied at most once, unknown types acknowledged.",
		response: billing.WebhookResult{},
		handler: func(w http.ResponseWriter, r *http.Request) error {
			// The signature covers the exact bytes, so the body is read raw.
			payload, err := io.ReadAll(r.Body)
			if err != nil {
				var mbe *http.MaxBytesError
				if errors.As(err, &mbe) {
					return apperr.New(apperr.PayloadTooLarge, "request body exceeds %d bytes", mbe.Limit)
				}
				return apperr.New(apperr.Validation, "could not read the body")
			}
			if err := checkRawBody(r, payload); err != nil {
				return err
			}
			res, err := s.Billing.HandleWebhook(r.Context(), payload, r.Header.Get("Stripe-Signature"))
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, res)
			return nil
		}})
}
