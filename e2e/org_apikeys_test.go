package e2e

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/switchboard/switchboard/internal/db/dbtest"
)

// An owner gives the organization a key that may only read workflows: it
// is shown once, listed with its scope, reads the organization's workflows
// and is refused its gateways.
func TestBrowser_OrganizationAPIKeyWithScopes(t *testing.T) {
	dbtest.EachURL(t, func(t *testing.T, url string) {
		s := start(t, url)
		s.apiCall("POST", "/api/v1/auth/signup", "", map[string]string{"email": "keys@example.com", "password": "owner-password-1", "name": "Kim"}, 201, nil)
		s.signInAs("keys@example.com", "owner-password-1")
		s.do("create the organization",
			chromedp.SendKeys(chromedp.CSS(`input[name=orgName]`), "Acme"),
			chromedp.Click(chromedp.CSS(`.create-org button[type=submit]`)),
			onPage("Acme"), chromedp.WaitVisible(chromedp.CSS(`#org-keys-h`)))

		form := `#org-keys-h ~ .key-form`
		s.do("a key that reads workflows",
			chromedp.SendKeys(chromedp.CSS(form+` input[name=name]`), "reporting"),
			chromedp.Click(chromedp.CSS(form+` input[name=scope][value="workflows:read"]`)),
			chromedp.Click(chromedp.CSS(form+` button[type=submit]`)),
			chromedp.WaitVisible(chromedp.CSS(`.key-once .key`)))
		key := s.text(`.key-once .key`)
		if !strings.HasPrefix(key, "sbk_") {
			t.Fatalf("new key %q", key)
		}
		row := `.api-keys li[data-key="reporting"]`
		if got := s.text(row + ` .muted`); !strings.Contains(got, "workflows:read") {
			t.Errorf("listed key shows %q, want its scope", got)
		}
		if strings.HasSuffix(t.Name(), "/sqlite") {
			s.shot("org-api-keys")
		}

		s.apiCall("GET", "/api/v1/workflows", key, nil, 200, nil)
		s.apiCall("GET", "/api/v1/gateways", key, nil, 403, nil)

		s.do("dismiss and revoke", chromedp.Click(chromedp.CSS(`.key-once button:last-of-type`)),
			chromedp.Click(chromedp.CSS(row+` button.danger`)), chromedp.WaitNotPresent(chromedp.CSS(row)))
		s.apiCall("GET", "/api/v1/workflows", key, nil, 401, nil)
	})
}
