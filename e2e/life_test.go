package e2e

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/chromedp"

	"github.com/switchboard/switchboard/internal/db/dbtest"
)

// The whole life of a user, in the browser only: sign up, confirm the
// address through the mailed link, create an organization, invite a
// colleague, who signs up through the mailed invitation and switches to
// the organization's workspace; the owner switches to it too, creates an
// API key (shown once, copied), and the audit screen shows every step.
func TestBrowser_LifeOfAUser(t *testing.T) {
	dbtest.EachURL(t, func(t *testing.T, url string) {
		s := start(t, url)
		base := s.node.URL
		shot := func(name string) {
			if strings.HasSuffix(t.Name(), "/sqlite") {
				s.shot(name)
			}
		}
		const ada, bea = "ada@example.com", "bea@example.com"

		s.do("sign up", chromedp.Navigate(base+"/"), onPage("Sign in"),
			chromedp.Click(chromedp.CSS(`a[href="/sign-up"]`)), onPage("Create an account"),
			chromedp.SendKeys(chromedp.CSS(`input[name=name]`), "Ada Lovelace"),
			chromedp.SendKeys(chromedp.CSS(`input[name=email]`), ada),
			chromedp.SendKeys(chromedp.CSS(`input[name=password]`), "ada-password-1"),
			chromedp.Click(chromedp.CSS(`button[type=submit]`)),
			chromedp.WaitVisible(chromedp.CSS(`.topbar`)), chromedp.WaitVisible(chromedp.CSS(`.notice`)))

		s.do("confirm the address", chromedp.Navigate(s.mailedLink(ada, "Confirm your email", 1)),
			chromedp.WaitVisible(chromedp.CSS(`.success`)),
			chromedp.Click(chromedp.CSS(`a.button.primary`)), chromedp.WaitVisible(chromedp.CSS(`.create-org`)))
		if n := eval[int](s, `document.querySelectorAll('.notice').length`); n != 0 {
			t.Error("the dashboard still asks to confirm the address")
		}

		s.do("create an organization",
			chromedp.SendKeys(chromedp.CSS(`input[name=orgName]`), "Acme"),
			chromedp.Click(chromedp.CSS(`.create-org button[type=submit]`)),
			onPage("Acme"), chromedp.WaitVisible(chromedp.CSS(`.members li[data-user="`+ada+`"]`)))
		orgID := strings.TrimPrefix(eval[string](s, `location.pathname`), "/orgs/")
		s.do("invite a colleague",
			chromedp.SendKeys(chromedp.CSS(`.invite-form input[name=email]`), bea),
			chromedp.Click(chromedp.CSS(`.invite-form button[type=submit]`)),
			chromedp.WaitVisible(chromedp.CSS(`.invitations li[data-email="`+bea+`"]`)))
		s.signOutUI()

		// The colleague opens the mailed invitation and signs up through it.
		link := s.mailedLink(bea, "You are invited", 1)
		if !strings.HasPrefix(link, base+"/invitations/accept?token=") {
			t.Fatalf("invitation link %q", link)
		}
		s.do("accept by signing up", chromedp.Navigate(link), onPage("Join an organization"),
			chromedp.SendKeys(chromedp.CSS(`input[name=name]`), "Bea"),
			chromedp.SendKeys(chromedp.CSS(`input[name=password]`), "bea-password-1"),
			chromedp.Click(chromedp.CSS(`button[type=submit]`)),
			chromedp.WaitVisible(chromedp.CSS(`.topbar`)))
		s.switchWorkspace(orgID)
		if got := eval[string](s, `document.querySelector('.subnav a[href^="/orgs/"]')?.textContent ?? ''`); got != "Organization" {
			t.Errorf("no organization page in the nav after switching: %q", got)
		}
		shot("life-member-workspace")
		s.signOutUI()

		// The owner: back in, into the organization's workspace, a new key.
		s.signInAs(ada, "ada-password-1")
		s.switchWorkspace(orgID)
		s.do("account", chromedp.Click(chromedp.CSS(`.subnav a[href="/account"]`)), onPage("Account"),
			chromedp.WaitVisible(chromedp.CSS(`#keys-h`)))
		// The copy button writes to the clipboard; reading it back needs
		// the permission (without it, the button's label is the proof).
		canRead := true
		if err := chromedp.Do(s.ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, browser.SetPermission, browser.SetPermissionParams{
				Permission: &browser.PermissionDescriptor{Name: "clipboard-read"}, Setting: browser.PermissionSettingGranted, Origin: base})
			return err
		})); err != nil {
			t.Logf("clipboard read not granted (%v): checking the copy button only", err)
			canRead = false
		}
		s.do("create an API key",
			chromedp.SendKeys(chromedp.CSS(`.key-form input[name=name]`), "deploy"),
			chromedp.Click(chromedp.CSS(`.key-form button[type=submit]`)),
			chromedp.WaitVisible(chromedp.CSS(`.key-once .key`)))
		key := s.text(`.key-once .key`)
		if !strings.Contains(s.text(`.key-once`), "shown only once") {
			t.Errorf("the new key's box does not say it is shown once: %q", s.text(`.key-once`))
		}
		s.do("copy it", chromedp.Click(chromedp.CSS(`.key-once button:first-of-type`)),
			until(`document.querySelector('.key-once button').textContent.trim() === 'Copied'`))
		if canRead {
			got, err := chromedp.Run(s.ctx, chromedp.Evaluate[string](`navigator.clipboard.readText()`, chromedp.EvalAwaitPromise))
			if err != nil || got != key {
				t.Errorf("clipboard holds %q (%v), want the new key", got, err)
			}
		}
		shot("life-api-key")
		s.do("done with it", chromedp.Click(chromedp.CSS(`.key-once button:last-of-type`)),
			chromedp.WaitNotPresent(chromedp.CSS(`.key-once`)))
		if strings.Contains(s.html(), key) {
			t.Error("the key is still in the page after Done")
		}
		if got := eval[string](s, `document.querySelector('#keys-h').closest('section').textContent`); !strings.Contains(got, "deploy") {
			t.Errorf("the key is not listed: %q", got)
		}

		// The audit screen: the organization's log, then the owner's own.
		s.do("the organization's log", chromedp.Click(chromedp.CSS(`.subnav a[href="/audit"]`)), onPage("Audit log"),
			until(`document.querySelector('.tabs button[aria-pressed=true]')?.textContent.trim() === 'Acme'`),
			chromedp.WaitVisible(chromedp.CSS(`.audit-row[data-action="org.created"]`)),
			chromedp.WaitVisible(chromedp.CSS(`.audit-row[data-action="org.member_invited"]`)),
			chromedp.WaitVisible(chromedp.CSS(`.audit-row[data-action="org.member_joined"]`)))
		// A personal key is audited in its owner's log only, whatever
		// workspace the session acted in (below).
		s.do("the join names the colleague", chromedp.Click(chromedp.CSS(`.audit-row[data-action="org.member_joined"] summary`)))
		if got := s.text(`.audit-row[data-action="org.member_joined"] .audit-by`); !strings.Contains(got, bea) {
			t.Errorf("join made by %q", got)
		}
		shot("life-audit-org")
		s.do("the owner's own log", chromedp.Click(chromedp.CSS(`.tabs button:not([aria-pressed=true])`)),
			until(`document.querySelector('.tabs button[aria-pressed=true]')?.textContent.trim() === 'Only mine'`),
			chromedp.WaitVisible(chromedp.CSS(`.audit-row[data-action="auth.signup"]`)),
			chromedp.WaitVisible(chromedp.CSS(`.audit-row[data-action="auth.email_verified"]`)),
			chromedp.WaitVisible(chromedp.CSS(`.audit-row[data-action="apikey.created"]`)))
		shot("life-audit-mine")
		// The key itself is in no audit entry.
		s.do("open the key's entry", chromedp.Click(chromedp.CSS(`.audit-row[data-action="apikey.created"] summary`)),
			chromedp.WaitVisible(chromedp.CSS(`.audit-row[data-action="apikey.created"] .audit-details`)))
		if strings.Contains(s.html(), key) {
			t.Error("the audit log shows the API key")
		}
	})
}

// switchWorkspace picks a workspace in the top bar's menu and waits until
// the shell has switched (the menu is enabled again, the credits loaded).
func (s *site) switchWorkspace(id string) {
	s.t.Helper()
	sel := `document.querySelector('.workspace select')`
	s.do("switch workspace to "+id,
		until(`[...`+sel+`.options].some(o => o.value === `+jsString(id)+`)`),
		pickOption(`.workspace select`, id),
		until(sel+`.value === `+jsString(id)+` && !`+sel+`.disabled && !document.querySelector('.credits').textContent.includes('…')`))
	if n := eval[int](s, `document.querySelectorAll('.error-box').length`); n != 0 {
		s.t.Fatalf("switching workspace failed: %s", s.html())
	}
}
