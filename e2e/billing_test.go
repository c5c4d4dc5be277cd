package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/chromedp"

	"github.com/switchboard/switchboard/internal/billing/stripefake"
	"github.com/switchboard/switchboard/internal/db/dbtest"
)

const (
	e2eStripeKey     = "sk_test_e2e"
	e2eWebhookSecret = "whsec_e2e"
)

// startBilling runs a node whose Stripe is the fake, with the fake's
// checkout page sending its signed events to the node's webhook.
func startBilling(t *testing.T, dbURL string, env map[string]string) (*site, *stripefake.Server) {
	t.Helper()
	fake := stripefake.Start(t, e2eStripeKey)
	settings := map[string]string{
		"SWITCHBOARD_STRIPE_SECRET_KEY": e2eStripeKey, "SWITCHBOARD_STRIPE_WEBHOOK_SECRET": e2eWebhookSecret,
		"SWITCHBOARD_STRIPE_API_URL": fake.URL, "SWITCHBOARD_STRIPE_PLAN_PRICES": "STARTER=price_starter,PRO=price_pro",
	}
	for k, v := range env {
		settings[k] = v
	}
	s := startEnv(t, dbURL, settings)
	fake.SendWebhooksTo(s.node.URL+"/hooks/stripe", e2eWebhookSecret)
	return s, fake
}

// downloadsTo makes the browser save downloads into dir.
func downloadsTo(dir string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
			Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: dir})
		return err
	})
}

// downloaded waits for a finished file in dir whose name matches pattern
// (filepath.Match) and returns its content. The browser may create the file before
// it writes it: finished is a complete last line, read twice alike.
func (s *site) downloaded(dir, pattern string) string {
	s.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	last := ""
	for {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if ok, _ := filepath.Match(pattern, e.Name()); !ok || strings.HasSuffix(e.Name(), ".crdownload") {
				continue
			}
			b, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				continue
			}
			if len(b) > 0 && b[len(b)-1] == '\n' && string(b) == last {
				if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
					s.t.Fatal(err)
				}
				return last
			}
			last = string(b)
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("no download %s in %s", pattern, dir)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// setDate types a date into a date input the way the picker would.
func setDate(sel, value string) chromedp.Action[chromedp.Void] {
	return until(`(() => { const e = document.querySelector(` + jsString(sel) + `); e.value = ` + jsString(value) +
		`; e.dispatchEvent(new Event('input', { bubbles: true })); return true })()`)
}

// arrive waits until expr is true on the page the browser lands on after
// leaving for another origin (Stripe's page and back): a check that meets
// the navigation itself is tried again.
func (s *site) arrive(what, expr string) {
	s.t.Helper()
	deadline := time.Now().Add(stepTimeout)
	for {
		ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
		_, err := chromedp.Run(ctx, chromedp.Poll[bool](expr))
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%s: %v\npage: %s", what, err, s.html())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// rows is how many transactions the table shows.
const txRows = `document.querySelectorAll('table.transactions tbody tr.tx').length`

// A user's credits and billing in the browser: the balance, usage against
// every plan limit, the transactions with their filters and CSV export,
// auto top-up settings refused and then saved, a credit pack bought and a
// plan subscribed through the Stripe fake's checkout page and back, the
// customer portal and back, a cancelled checkout, and the organization
// workspace's own billing.
func TestBrowser_BillingCheckoutUsageTransactionsAndSettings(t *testing.T) {
	dbtest.EachURL(t, func(t *testing.T, url string) {
		const adminEmail, adminPassword = "root@example.com", "root-password-12345"
		s, fake := startBilling(t, url, map[string]string{"SWITCHBOARD_ADMIN_EMAIL": adminEmail, "SWITCHBOARD_ADMIN_PASSWORD": adminPassword})
		base := s.node.URL
		shot := func(name string) {
			if strings.HasSuffix(t.Name(), "/sqlite") {
				s.shot(name)
			}
		}
		var user struct {
			ID string `json:"id"`
		}
		s.apiCall("POST", "/api/v1/auth/signup", "", map[string]string{"email": "bill@example.com", "password": "bill-password-1", "name": "Bill Payer"}, 201, &user)
		var admin struct {
			AccessToken string `json:"accessToken"`
		}
		s.apiCall("POST", "/api/v1/auth/login", "", map[string]string{"email": adminEmail, "password": adminPassword}, 200, &admin)
		s.apiCall("POST", "/api/v1/admin/workspaces/"+user.ID+"/credits", admin.AccessToken,
			map[string]any{"amount": 250_000, "type": "grant", "reason": "welcome"}, 201, nil)
		s.apiCall("POST", "/api/v1/admin/workspaces/"+user.ID+"/credits", admin.AccessToken,
			map[string]any{"amount": 5_000, "type": "bonus", "reason": "launch week"}, 201, nil)

		// The shell's section bar leads to the billing page.
		s.signInAs("bill@example.com", "bill-password-1")
		s.do("open billing", chromedp.Click(chromedp.CSS(`.subnav a[href="/billing"]`)), onPage("Credits and billing"),
			chromedp.WaitVisible(chromedp.CSS(`#balance-available`)), until(txRows+` === 2`))
		if got := s.text(`#balance-available`); got != "255" {
			t.Errorf("balance %q, want 255", got)
		}
		// Usage against every limit of the FREE plan, as meters.
		metrics := eval[[]string](s, `[...document.querySelectorAll('.usage-item')].map((e) => e.dataset.metric)`)
		if strings.Join(metrics, ",") != "executions,aiTokens,storageBytes,gateways,plugins,eventSubscriptions" {
			t.Errorf("usage shows %v", metrics)
		}
		if max := eval[float64](s, `document.querySelector('#usage-executions').max`); max != 100 {
			t.Errorf("executions meter max %v, want the FREE plan's 100", max)
		}
		if got := s.text(`.usage-item[data-metric=executions] .usage-num`); got != "0 of 100" {
			t.Errorf("executions read %q", got)
		}
		if n := eval[int](s, `document.querySelectorAll('.pack button').length`); n != 3 {
			t.Errorf("%d packs for sale", n)
		}
		if got := s.text(`tr[data-plan=PRO] button`); got != "Upgrade to Pro" {
			t.Errorf("PRO plan's button: %q", got)
		}
		if n := eval[int](s, `document.querySelectorAll('tr[data-plan=BUSINESS] button, tr[data-plan=FREE] button').length`); n != 0 {
			t.Errorf("plans without a price (or the current one) offer %d buttons", n)
		}
		if styled := eval[int](s, `document.querySelectorAll('main [style]').length`); styled != 0 {
			t.Errorf("%d elements carry a style attribute (the CSP forbids them)", styled)
		}
		shot("billing")

		// Filters: by type, and by date range.
		s.do("only grants", pickOption(`#tx-type`, "grant"), chromedp.Click(chromedp.CSS(`.tx-filters button[type=submit]`)),
			until(txRows+` === 1`))
		if got := eval[string](s, `document.querySelector('tr.tx').dataset.type`); got != "grant" {
			t.Errorf("filtered row is a %s", got)
		}
		// The export follows the filters applied.
		dl := t.TempDir()
		s.do("export grants", downloadsTo(dl), chromedp.Click(chromedp.CSS(`button.export-csv`)))
		csv := s.downloaded(dl, "credits-*")
		lines := strings.Split(strings.TrimSpace(csv), "\n")
		if len(lines) != 2 || !strings.HasPrefix(lines[0], "id,createdAt,type,amount") || !strings.Contains(lines[1], ",grant,250000,250,") {
			t.Errorf("exported CSV:\n%s", csv)
		}
		today := time.Now().Format("2006-01-02")
		tomorrow := time.Now().AddDate(0, 0, 1).Format("2006-01-02")
		s.do("today, any type", pickOption(`#tx-type`, ""), setDate(`.tx-filters input[name=from]`, today), setDate(`.tx-filters input[name=to]`, today),
			chromedp.Click(chromedp.CSS(`.tx-filters button[type=submit]`)), until(txRows+` === 2`))
		s.do("from tomorrow", setDate(`.tx-filters input[name=from]`, tomorrow), setDate(`.tx-filters input[name=to]`, tomorrow),
			chromedp.Click(chromedp.CSS(`.tx-filters button[type=submit]`)), until(txRows+` === 0`),
			chromedp.WaitVisible(chromedp.CSS(`table.transactions .empty`)))
		s.do("clear filters", chromedp.Click(chromedp.CSS(`.tx-filters button[type=button]`)), until(txRows+` === 2`))

		// Auto top-up: the API's field errors land on their fields.
		s.do("enable without a threshold", chromedp.Click(chromedp.CSS(`input[name=autoTopUpEnabled]`)),
			chromedp.Click(chromedp.CSS(`.settings-form button[type=submit]`)),
			chromedp.WaitVisible(chromedp.CSS(`.settings-form .field.invalid input[name=threshold]`)))
		if got := s.text(`.settings-form .field-error`); !strings.Contains(got, "positive") {
			t.Errorf("threshold error %q", got)
		}
		s.do("a threshold, no pack", chromedp.SendKeys(chromedp.CSS(`input[name=threshold]`), "50"),
			chromedp.Click(chromedp.CSS(`.settings-form button[type=submit]`)),
			chromedp.WaitVisible(chromedp.CSS(`#topup-amount-err`)))
		if got := s.text(`#topup-amount-err`); !strings.Contains(got, "credit packs") {
			t.Errorf("amount error %q", got)
		}
		if eval[string](s, `document.querySelector('#topup-amount').getAttribute('aria-invalid')`) != "true" {
			t.Error("the pack select is not marked invalid")
		}
		shot("billing-settings-error")
		s.do("pick a pack and save", pickOption(`#topup-amount`, "1000000"),
			chromedp.Click(chromedp.CSS(`.settings-form button[type=submit]`)),
			chromedp.WaitVisible(chromedp.CSS(`.settings-form .success`)))
		s.do("reload", chromedp.Reload(), onPage("Credits and billing"), chromedp.WaitVisible(chromedp.CSS(`#balance-available`)),
			until(`document.querySelector('input[name=autoTopUpEnabled]').checked`))
		if got := eval[string](s, `document.querySelector('input[name=threshold]').value + '/' + document.querySelector('#topup-amount').value`); got != "50/1000000" {
			t.Errorf("saved settings read back as %q", got)
		}

		// Buy a pack: Stripe's (fake) checkout page, Pay, and back.
		s.do("buy 1,000 credits", chromedp.Click(chromedp.CSS(`.pack[data-pack=credits_1000] button`)))
		s.arrive("the checkout page", `!!document.querySelector('#pay')`)
		if got := s.text(`#total`); !strings.Contains(got, "10.00 USD") {
			t.Errorf("checkout total %q", got)
		}
		s.do("pay", chromedp.Click(chromedp.CSS(`#pay`)))
		s.arrive("back from checkout", `!!document.querySelector('.result-credits')`)
		if !strings.HasPrefix(eval[string](s, `location.href`), base+"/billing/success?session_id=cs_") {
			t.Errorf("returned to %s", eval[string](s, `location.href`))
		}
		if got := s.text(`.result-credits`); !strings.Contains(got, "1,000 credits added") {
			t.Errorf("result says %q", got)
		}
		if got := s.text(`.result-balance`); got != "1,255" {
			t.Errorf("balance after the purchase %q, want 1,255", got)
		}
		if got := s.text(`.topbar .credits`); !strings.Contains(got, "1,255") {
			t.Errorf("shell balance %q", got)
		}
		if d := fake.Deliveries(); len(d) != 1 || d[0].Type != "checkout.session.completed" || d[0].Status != 200 {
			t.Errorf("webhook deliveries %+v", d)
		}
		shot("billing-success")
		s.do("back to billing", chromedp.Click(chromedp.CSS(`.result-actions a[href="/billing"]`)), onPage("Credits and billing"),
			until(txRows+` === 3`))
		if got := eval[string](s, `document.querySelector('tr.tx').dataset.type`); got != "purchase" {
			t.Errorf("newest row is a %s, want the purchase", got)
		}

		// Subscribe to PRO the same way; the limits follow the plan.
		s.do("upgrade to PRO", chromedp.Click(chromedp.CSS(`tr[data-plan=PRO] button`)))
		s.arrive("the subscription checkout", `!!document.querySelector('#pay')`)
		s.do("subscribe", chromedp.Click(chromedp.CSS(`#pay`)))
		s.arrive("back from subscribing", `!!document.querySelector('.result-plan')`)
		if got := s.text(`.result-plan`); !strings.Contains(got, "Pro plan") {
			t.Errorf("result says %q", got)
		}
		// The shell's plan badge follows without a reload.
		if got := s.text(`.topbar .badge`); got != "PRO" {
			t.Errorf("plan badge after subscribing: %q", got)
		}
		s.do("billing on PRO", chromedp.Navigate(base+"/billing"))
		s.arrive("billing on PRO", `!!document.querySelector('tr[data-plan=PRO].current') && !!document.querySelector('#usage-executions')`)
		if max := eval[float64](s, `document.querySelector('#usage-executions').max`); max != 10000 {
			t.Errorf("executions meter max %v, want PRO's 10,000", max)
		}
		if got := s.text(`tr[data-plan=STARTER] button`); got != "Switch to Starter" {
			t.Errorf("STARTER's button on PRO: %q", got)
		}
		// The customer portal, and back.
		s.do("portal", chromedp.Click(chromedp.CSS(`[aria-labelledby=plans-h] .plans-head button`)))
		s.arrive("the portal", `!!document.querySelector('#back')`)
		if got := s.text(`main`); !strings.Contains(got, "price_pro, active") {
			t.Errorf("portal shows %q", got)
		}
		s.do("return from the portal", chromedp.Click(chromedp.CSS(`#back`)))
		s.arrive("back from the portal", `document.querySelector('h1')?.textContent === 'Credits and billing'`)

		// A checkout given up on comes back to the cancelled page.
		s.do("cancel a checkout", chromedp.WaitVisible(chromedp.CSS(`.pack[data-pack=credits_5000] button`)),
			chromedp.Click(chromedp.CSS(`.pack[data-pack=credits_5000] button`)))
		s.arrive("the checkout page", `!!document.querySelector('#pay')`)
		s.do("give up", chromedp.Click(chromedp.CSS(`#back`)))
		s.arrive("back cancelled", `document.querySelector('h1')?.textContent === 'Payment cancelled'`)

		// At 375 px in the dark, nothing scrolls sideways.
		s.do("phone width", chromedp.EmulateViewport(375, 740, chromedp.EmulateScale(2)), setScheme("dark"),
			chromedp.Navigate(base+"/billing"), onPage("Credits and billing"), until(txRows+` === 3`))
		if eval[bool](s, `document.documentElement.scrollWidth > window.innerWidth`) {
			t.Error("the billing page scrolls sideways at 375 px")
		}
		shot("billing-375-dark")
		s.do("desktop width", chromedp.EmulateViewport(1280, 800), setScheme("light"))

		// An organization's billing is its own: switching the workspace in
		// the shell reloads the page for it.
		var org struct {
			ID string `json:"id"`
		}
		var tok struct {
			AccessToken string `json:"accessToken"`
		}
		s.apiCall("POST", "/api/v1/auth/login", "", map[string]string{"email": "bill@example.com", "password": "bill-password-1"}, 200, &tok)
		s.apiCall("POST", "/api/v1/orgs", tok.AccessToken, map[string]string{"name": "Payers Inc"}, 201, &org)
		// More rows than a page holds.
		for i := 0; i < 52; i++ {
			s.apiCall("POST", "/api/v1/admin/workspaces/"+org.ID+"/credits", admin.AccessToken,
				map[string]any{"amount": 1_000, "type": "grant", "reason": fmt.Sprintf("grant %d", i+1)}, 201, nil)
		}
		// After a reload the session still acts in the personal workspace,
		// though the account now belongs to an organization: the switcher
		// and the page say so.
		s.do("org in the menu", chromedp.Reload(), onPage("Credits and billing"),
			until(`[...document.querySelectorAll('.workspace option')].some((o) => o.textContent === 'Payers Inc')`),
			until(`document.querySelector('#balance-available')?.textContent === '1,255'`))
		if got := eval[string](s, `document.querySelector('.workspace select').value + '|' + document.querySelector('.billing-ws').textContent`); !strings.HasPrefix(got, "|Personal workspace") {
			t.Errorf("after a reload the workspace reads %q, want the personal one", got)
		}
		s.do("switch to the org", pickOption(`.workspace select`, org.ID),
			until(`document.querySelector('.billing-ws').textContent.includes('Payers Inc')`),
			until(`document.querySelector('#balance-available')?.textContent === '52'`), until(txRows+` === 50`),
			chromedp.WaitVisible(chromedp.CSS(`tr[data-plan=FREE].current`)))
		if got := s.text(`.topbar .credits`); !strings.HasPrefix(got, "52") {
			t.Errorf("shell balance in the org %q", got)
		}
		s.do("next page", chromedp.Click(chromedp.CSS(`button.load-more`)), until(txRows+` === 52`),
			chromedp.WaitNotPresent(chromedp.CSS(`button.load-more`)))
		if got := s.text(`table.transactions tbody tr.tx:last-child td[data-label=Description]`); got != "grant 1" {
			t.Errorf("last row %q, want the oldest grant", got)
		}
		if eval[bool](s, `document.querySelector('input[name=autoTopUpEnabled]').checked`) {
			t.Error("the org shows the personal workspace's auto top-up")
		}
		shot("billing-org")
	})
}

// On a server without Stripe the billing page shows the figures and the
// settings, says nothing can be bought, and offers no buy buttons.
func TestBrowser_BillingWithoutStripe(t *testing.T) {
	dbtest.EachURL(t, func(t *testing.T, url string) {
		s := start(t, url)
		s.apiCall("POST", "/api/v1/auth/signup", "", map[string]string{"email": "free@example.com", "password": "free-password-1", "name": "Free Rider"}, 201, nil)
		s.signInAs("free@example.com", "free-password-1")
		s.do("open billing from the credit figure", chromedp.Click(chromedp.CSS(`.topbar a.credits`)), onPage("Credits and billing"),
			chromedp.WaitVisible(chromedp.CSS(`tr[data-plan=FREE].current`)), chromedp.WaitVisible(chromedp.CSS(`.usage-item`)))
		if got := s.text(`main .notice:not(:first-child)`); !strings.Contains(got, "cannot be bought") {
			t.Errorf("notice %q", got)
		}
		if n := eval[int](s, `document.querySelectorAll('.pack, table.plans button, [aria-labelledby=plans-h] .plans-head button').length`); n != 0 {
			t.Errorf("%d buy controls without Stripe", n)
		}
		s.do("overage still saves", chromedp.Click(chromedp.CSS(`input[name=overageEnabled]`)),
			chromedp.Click(chromedp.CSS(`.settings-form button[type=submit]`)), chromedp.WaitVisible(chromedp.CSS(`.settings-form .success`)))
	})
}

// A member who is not the organization's owner sees its figures but can
// buy nothing and change no setting.
func TestBrowser_BillingForAnOrganizationMember(t *testing.T) {
	dbtest.EachURL(t, func(t *testing.T, url string) {
		s, _ := startBilling(t, url, nil)
		var owner, member struct {
			AccessToken string `json:"accessToken"`
		}
		for _, email := range []string{"own@example.com", "mem@example.com"} {
			s.apiCall("POST", "/api/v1/auth/signup", "", map[string]string{"email": email, "password": "billing-password-1", "name": email}, 201, nil)
		}
		s.apiCall("POST", "/api/v1/auth/login", "", map[string]string{"email": "own@example.com", "password": "billing-password-1"}, 200, &owner)
		s.apiCall("POST", "/api/v1/auth/login", "", map[string]string{"email": "mem@example.com", "password": "billing-password-1"}, 200, &member)
		var org struct {
			ID string `json:"id"`
		}
		s.apiCall("POST", "/api/v1/orgs", owner.AccessToken, map[string]string{"name": "Owned Co"}, 201, &org)
		s.apiCall("POST", "/api/v1/orgs/"+org.ID+"/invitations", owner.AccessToken, map[string]string{"email": "mem@example.com", "orgRole": "ORG_ADMIN"}, 201, nil)
		link := s.mailedLink("mem@example.com", "You are invited", 1)
		_, token, _ := strings.Cut(link, "token=")
		s.apiCall("POST", "/api/v1/invitations/accept", member.AccessToken, map[string]string{"token": token}, 200, nil)

		s.signInAs("mem@example.com", "billing-password-1")
		s.do("billing in the organization", chromedp.Navigate(s.node.URL+"/billing"), onPage("Credits and billing"),
			until(`[...document.querySelectorAll('.workspace option')].some((o) => o.value === `+jsString(org.ID)+`)`),
			pickOption(`.workspace select`, org.ID),
			until(`document.querySelector('.billing-ws').textContent.includes('Owned Co')`),
			chromedp.WaitVisible(chromedp.CSS(`.pack button`)))
		if got := s.text(`main .notice:not(:first-child)`); !strings.Contains(got, "Only the workspace's owner") {
			t.Errorf("notice %q", got)
		}
		if n := eval[int](s, `[...document.querySelectorAll('.pack button')].filter((b) => !b.disabled).length`); n != 0 {
			t.Errorf("%d pack buttons a member can press", n)
		}
		if n := eval[int](s, `document.querySelectorAll('table.plans button, [aria-labelledby=plans-h] .plans-head button, .settings-form button[type=submit]').length`); n != 0 {
			t.Errorf("%d plan or settings buttons for a member", n)
		}
		if !eval[bool](s, `[...document.querySelectorAll('.settings-form fieldset')].every((f) => f.disabled)`) {
			t.Error("a member can edit the organization's settings")
		}
		// The transactions stay readable and exportable.
		if !eval[bool](s, `!document.querySelector('button.export-csv').disabled`) {
			t.Error("a member cannot export")
		}
	})
}
