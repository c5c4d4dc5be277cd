package httpapi_test

import (
	"strings"
	"testing"

	"github.com/switchboard/switchboard/internal/app/apptest"
	"github.com/switchboard/switchboard/internal/db/dbtest"
)

// creatingRoutes are the POST routes that create a run, an execution, a
// send or a charge: each must honour Idempotency-Key (issue #12 §4).
var creatingRoutes = map[string]string{
	"/api/v1/installations/{id}/execute":                                 "an execution",
	"/api/v1/workflows/{id}/runs":                                        "a run",
	"/api/v1/workflows/{id}/test":                                        "a test run",
	"/api/v1/runs/{id}/retry":                                            "a run's new attempt",
	"/api/v1/gateways/{id}/send":                                         "a send",
	"/api/v1/gateways/{id}/test":                                         "a test send",
	"/api/v1/event-subscriptions/{id}/test":                              "a delivery",
	"/api/v1/event-subscriptions/{id}/deliveries/{deliveryId}/redeliver": "a delivery's new attempts",
	"/api/v1/admin/workspaces/{id}/credits":                              "a grant",
	"/api/v1/billing/checkout":                                           "a checkout (a charge)",
	"/api/v1/billing/subscription":                                       "a subscription (a charge)",
}

// otherPOSTRoutes create none of those, or deduplicate another way (the
// public hooks: a webhook trigger's dedupeHeader, Stripe's event id, a
// platform's update id). A POST route in neither list fails the test, so
// a route added later is classified by whoever adds it.
var otherPOSTRoutes = map[string]bool{
	"/hooks/workflows/{id}/{token}": true, "/hooks/gateways/{id}/{token}": true, "/hooks/stripe": true,
	"/api/v1/admin/users/{id}/restore": true, "/api/v1/admin/users/{id}/revoke-sessions": true,
	"/api/v1/admin/users/{id}/unlock": true, "/api/v1/admin/users/{id}/impersonate": true,
	"/api/v1/admin/users/{id}/reset-2fa": true, "/api/v1/admin/flags": true, "/api/v1/admin/flags/{key}/preview": true,
	"/api/v1/auth/signup": true, "/api/v1/auth/login": true, "/api/v1/auth/refresh": true, "/api/v1/auth/logout": true,
	"/api/v1/auth/logout-all": true, "/api/v1/auth/password/forgot": true, "/api/v1/auth/password/reset": true,
	"/api/v1/auth/email/verify": true, "/api/v1/auth/email/resend": true, "/api/v1/auth/impersonation/end": true,
	"/api/v1/auth/email/change/confirm": true, "/api/v1/auth/email/change/revert": true, "/api/v1/auth/login/mfa": true,
	"/api/v1/auth/login/mfa/passkey/begin": true, "/api/v1/auth/reauth/passkey/begin": true, "/api/v1/auth/reauth": true,
	"/api/v1/auth/switch": true, "/api/v1/auth/passkey/begin": true, "/api/v1/auth/passkey/finish": true,
	"/api/v1/billing/portal":      true,
	"/api/v1/event-subscriptions": true, "/api/v1/event-subscriptions/{id}/rotate-secret": true,
	"/api/v1/gateways": true, "/api/v1/gateways/{id}/connect": true, "/api/v1/gateways/{id}/disconnect": true,
	"/api/v1/gateways/{id}/hook/rotate": true,
	"/api/v1/me/password":               true, "/api/v1/me/api-keys": true, "/api/v1/me/2fa/totp": true, "/api/v1/me/2fa/totp/confirm": true,
	"/api/v1/me/2fa/recovery-codes": true, "/api/v1/me/passkeys/register/begin": true, "/api/v1/me/passkeys/register/finish": true,
	"/api/v1/orgs": true, "/api/v1/orgs/{id}/api-keys": true, "/api/v1/orgs/{id}/leave": true, "/api/v1/orgs/{id}/departments": true,
	"/api/v1/orgs/{id}/invitations": true, "/api/v1/orgs/{id}/invitations/{invId}/resend": true,
	"/api/v1/invitations/accept": true, "/api/v1/invitations/accept-signup": true,
	"/api/v1/marketplace/submissions": true, "/api/v1/marketplace/versions/{id}/yank": true,
	"/api/v1/installations": true,
	"/api/v1/workflows":     true, "/api/v1/workflows/validate": true, "/api/v1/workflows/expressions/preview": true, "/api/v1/workflows/{id}/webhook/rotate": true,
	"/api/v1/workflows/{id}/versions/{version}/restore": true, "/api/v1/workflows/import": true,
	"/api/v1/workflows/{id}/duplicate": true, "/api/v1/runs/{id}/cancel": true,
}

// Every POST route that creates a run, an execution, a send or a charge
// takes an Idempotency-Key (as the OpenAPI document, built from the route
// table, says); every other POST route is listed as such.
func TestRoutes_EveryCreatingPOSTIsIdempotent(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h := apptest.Start(t, url)
		paths := h.App.HTTP.OpenAPI()["paths"].(map[string]any)
		seen := map[string]bool{}
		for p, ops := range paths {
			op, ok := ops.(map[string]any)["post"].(map[string]any)
			if !ok {
				continue
			}
			seen[p] = true
			idempotent := false
			params, _ := op["parameters"].([]any)
			for _, pa := range params {
				if m := pa.(map[string]any); m["in"] == "header" && m["name"] == "Idempotency-Key" {
					idempotent = true
				}
			}
			if what, ok := creatingRoutes[p]; ok {
				if !idempotent {
					t.Errorf("POST %s creates %s but ignores Idempotency-Key", p, what)
				}
				continue
			}
			if otherPOSTRoutes[p] || isStateVerb(p) {
				continue
			}
			t.Errorf("POST %s is new: list it in creatingRoutes (and make it idempotent) or in otherPOSTRoutes", p)
		}
		for p := range creatingRoutes {
			if !seen[p] {
				t.Errorf("creatingRoutes names %s, which is no POST route", p)
			}
		}
	})
}

// isStateVerb covers the routes registered in loops over verbs that
// change a resource's state (approve/reject, enable/disable).
func isStateVerb(p string) bool {
	for _, prefix := range []string{"/api/v1/admin/marketplace/versions/{id}/", "/api/v1/installations/{id}/", "/api/v1/workflows/{id}/"} {
		if rest, ok := strings.CutPrefix(p, prefix); ok {
			switch rest {
			case "approve", "reject", "feature", "unfeature", "enable", "disable":
				return true
			}
		}
	}
	return false
}
