package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/switchboard/switchboard/internal/db/dbtest"
)

// signUp makes an account through the API (a person signing up is the
// account flow's test; the others start from a signed-up account).
func (s *site) signUp(email, password, name string) {
	s.t.Helper()
	body, _ := json.Marshal(map[string]string{"email": email, "password": password, "name": name})
	res, err := http.Post(s.node.URL+"/api/v1/auth/signup", "application/json", bytes.NewReader(body))
	if err != nil {
		s.t.Fatalf("sign up %s: %v", email, err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		s.t.Fatalf("sign up %s: %s", email, res.Status)
	}
}

// signInAs signs in through the sign-in page.
func (s *site) signInAs(email, password string) {
	s.t.Helper()
	s.do("sign in as "+email, chromedp.Navigate(s.node.URL+"/sign-in"), onPage("Sign in"),
		chromedp.SendKeys(chromedp.CSS(`input[name=email]`), email),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), password),
		chromedp.Click(chromedp.CSS(`button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`.topbar`)))
}

// signOutUI signs out through the user menu.
func (s *site) signOutUI() {
	s.t.Helper()
	s.do("sign out", chromedp.WaitVisible(chromedp.CSS(`.user-menu summary`)),
		chromedp.Click(chromedp.CSS(`.user-menu summary`)),
		chromedp.Click(chromedp.CSS(`.menu button`)),
		onPage("Sign in"))
}

// pickOption sets a <select> the way a person would, so the page's
// change handler runs.
func pickOption(sel, value string) chromedp.Action[chromedp.Void] {
	q, _ := json.Marshal(sel)
	v, _ := json.Marshal(value)
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Evaluate[any](`(() => { const e = document.querySelector(`+string(q)+`);
			e.value = `+string(v)+`; e.dispatchEvent(new Event('change', { bubbles: true })); return null })()`)(ctx, t)
		return err
	})
}

// An owner creates an organization in the dashboard and invites a second
// address; that person signs up through the mailed link; the owner then
// sees them among the members, makes them an admin, and finds both the
// invitation and the role change in the organization's audit log.
func TestBrowser_OrganizationMembersAndAudit(t *testing.T) {
	dbtest.EachURL(t, func(t *testing.T, url string) {
		s := start(t, url)
		base := s.node.URL
		shot := func(name string) {
			if strings.HasSuffix(t.Name(), "/sqlite") {
				s.shot(name)
			}
		}
		s.apiCall("POST", "/api/v1/auth/signup", "", map[string]string{"email": "owner@example.com", "password": "owner-password-1", "name": "Olga Owner"}, 201, nil)
		s.signInAs("owner@example.com", "owner-password-1")

		s.do("create the organization",
			chromedp.SendKeys(chromedp.CSS(`input[name=orgName]`), "Acme"),
			chromedp.Click(chromedp.CSS(`.create-org button[type=submit]`)),
			onPage("Acme"), chromedp.WaitVisible(chromedp.CSS(`.members li[data-user="owner@example.com"]`)))
		orgPath := eval[string](s, `location.pathname`)
		if !strings.HasPrefix(orgPath, "/orgs/org_") {
			t.Fatalf("organization page at %q", orgPath)
		}
		// The new organization is the workspace in use, with its page in the nav.
		s.do("workspace is Acme", until(`document.querySelector('.subnav a[aria-current=page]')?.textContent === 'Organization'`))

		// A bad address is refused beside its field.
		s.do("invite a bad address",
			chromedp.SendKeys(chromedp.CSS(`.invite-form input[name=email]`), "not-an-address"),
			chromedp.Click(chromedp.CSS(`.invite-form button[type=submit]`)))
		if msg := s.text(`.invite-form .field-error`); msg == "" {
			t.Fatal("no inline error for a bad invitation address")
		}
		s.do("invite bea",
			clearInput(`.invite-form input[name=email]`),
			chromedp.SendKeys(chromedp.CSS(`.invite-form input[name=email]`), "bea@example.com"),
			chromedp.Click(chromedp.CSS(`.invite-form button[type=submit]`)),
			chromedp.WaitVisible(chromedp.CSS(`.invitations li[data-email="bea@example.com"]`)))
		s.do("a department", chromedp.SendKeys(chromedp.CSS(`.dept-form input[name=name]`), "Support"),
			chromedp.Click(chromedp.CSS(`.dept-form button[type=submit]`)),
			until(`[...document.querySelectorAll('.departments strong')].some(e => e.textContent === 'Support')`))
		shot("org")

		link := s.mailedLink("bea@example.com", "You are invited", 1)
		s.signOutUI()
		s.do("bea signs up through the invitation", chromedp.Navigate(link), onPage("Join an organization"),
			chromedp.SendKeys(chromedp.CSS(`input[name=name]`), "Bea"),
			chromedp.SendKeys(chromedp.CSS(`input[name=password]`), "bea-password-1"),
			chromedp.Click(chromedp.CSS(`button[type=submit]`)),
			chromedp.WaitVisible(chromedp.CSS(`.topbar`)),
			until(`[...document.querySelectorAll('.workspace option')].some(o => o.textContent === 'Acme')`))
		s.signOutUI()

		s.signInAs("owner@example.com", "owner-password-1")
		bea := `.members li[data-user="bea@example.com"]`
		s.do("the owner sees bea", chromedp.Navigate(base+orgPath), onPage("Acme"), chromedp.WaitVisible(chromedp.CSS(bea)))
		if n := eval[int](s, `document.querySelectorAll('.invitations li[data-email]').length`); n != 0 {
			t.Errorf("the accepted invitation is still pending (%d listed)", n)
		}

		s.do("make bea an admin", pickOption(bea+` select.role`, "ORG_ADMIN"),
			until(`document.querySelector('.success')?.textContent.includes('Admin')`))
		s.do("reload keeps the role", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(bea)),
			until(`document.querySelector(`+jsString(bea+` select.role`)+`).value === 'ORG_ADMIN'`))

		// Removing asks first.
		s.do("ask to remove bea", chromedp.Click(chromedp.CSS(bea+` button.danger`)), chromedp.WaitVisible(chromedp.CSS(bea+` .confirm-inline`)))
		shot("org-confirm-remove")
		s.do("cancel", chromedp.Click(chromedp.CSS(bea+` .confirm-inline button:not(.danger)`)), chromedp.WaitNotPresent(chromedp.CSS(bea+` .confirm-inline`)))

		// Deleting needs the name typed.
		if !eval[bool](s, `document.querySelector('.delete-org button').disabled`) {
			t.Error("delete is enabled before the name is typed")
		}
		s.do("type the name", chromedp.SendKeys(chromedp.CSS(`.delete-org input`), "Acme"),
			until(`!document.querySelector('.delete-org button').disabled`))

		// The audit log: the workspace in use is the organization, so its log shows.
		s.do("switch to Acme", chromedp.Navigate(base+"/audit"), onPage("Audit log"),
			until(`document.querySelector('.workspace select')?.selectedOptions[0]?.textContent === 'Acme' || document.querySelector('.workspace select')?.options.length > 1`))
		if eval[string](s, `document.querySelector('.workspace select').selectedOptions[0].textContent`) != "Acme" {
			s.do("select Acme", pickOption(`.workspace select`, strings.TrimPrefix(orgPath, "/orgs/")),
				until(`!document.querySelector('.workspace select').disabled`))
		}
		s.do("org log", until(`document.querySelector('.tabs button[aria-pressed=true]')?.textContent.trim() === 'Acme'`),
			chromedp.WaitVisible(chromedp.CSS(`.audit-row[data-action="org.member_role_changed"]`)),
			chromedp.WaitVisible(chromedp.CSS(`.audit-row[data-action="org.member_invited"]`)),
			chromedp.WaitVisible(chromedp.CSS(`.audit-row[data-action="org.member_joined"]`)))
		s.do("expand the role change", chromedp.Click(chromedp.CSS(`.audit-row[data-action="org.member_role_changed"] summary`)))
		if got := s.text(`.audit-row[data-action="org.member_role_changed"] .audit-change`); !strings.Contains(got, "ORG_MEMBER") || !strings.Contains(got, "ORG_ADMIN") {
			t.Errorf("role change reads %q", got)
		}
		if got := s.text(`.audit-row[data-action="org.member_role_changed"] .audit-by`); got != "you" {
			t.Errorf("role change made by %q", got)
		}
		s.do("expand the join", chromedp.Click(chromedp.CSS(`.audit-row[data-action="org.member_joined"] summary`)))
		if got := s.text(`.audit-row[data-action="org.member_joined"] .audit-by`); !strings.Contains(got, "bea@example.com") {
			t.Errorf("join made by %q", got)
		}
		s.do("collapse the join", chromedp.Click(chromedp.CSS(`.audit-row[data-action="org.member_joined"] summary`)))
		shot("audit")

		// Filters: only invitations.
		s.do("filter by action", chromedp.SendKeys(chromedp.CSS(`.filters input[name=action]`), "org.member_invited"),
			chromedp.Click(chromedp.CSS(`.filters button[type=submit]`)),
			chromedp.WaitNotPresent(chromedp.CSS(`.audit-row[data-action="org.member_role_changed"]`)),
			chromedp.WaitVisible(chromedp.CSS(`.audit-row[data-action="org.member_invited"]`)))
		// An end before the start is refused beside the field.
		s.do("bad range", chromedp.SendKeys(chromedp.CSS(`.filters input[name=from]`), "03022026"),
			chromedp.SendKeys(chromedp.CSS(`.filters input[name=to]`), "01022026"),
			chromedp.Click(chromedp.CSS(`.filters button[type=submit]`)))
		if got := s.text(`.filters .field-error`); !strings.Contains(got, "before") {
			t.Errorf("bad range says %q", got)
		}
		s.do("clear", chromedp.Click(chromedp.CSS(`.filter-buttons button:not(.primary)`)),
			chromedp.WaitVisible(chromedp.CSS(`.audit-row[data-action="org.member_role_changed"]`)))

		// Phone width, dark.
		s.do("phone width", chromedp.EmulateViewport(375, 740, chromedp.EmulateScale(2)), setScheme("dark"),
			chromedp.Click(chromedp.CSS(`.audit-row[data-action="org.member_role_changed"] summary`)),
			chromedp.WaitVisible(chromedp.CSS(`.audit-row[data-action="org.member_role_changed"] .json`)))
		if eval[bool](s, `document.documentElement.scrollWidth > window.innerWidth`) {
			t.Error("the audit log scrolls sideways at 375 px")
		}
		shot("audit-375-dark")
		s.do("org at phone width", chromedp.Navigate(base+orgPath), onPage("Acme"), chromedp.WaitVisible(chromedp.CSS(bea)))
		if eval[bool](s, `document.documentElement.scrollWidth > window.innerWidth`) {
			t.Error("the organization page scrolls sideways at 375 px")
		}
		shot("org-375-dark")

		// More invitations than a page: the rest load on demand, and one
		// is revoked after a second question.
		var tok struct{ AccessToken string }
		s.apiCall("POST", "/api/v1/auth/login", "", map[string]string{"email": "owner@example.com", "password": "owner-password-1"}, 200, &tok)
		for i := range 51 {
			s.apiCall("POST", "/api/v1/orgs/"+strings.TrimPrefix(orgPath, "/orgs/")+"/invitations", tok.AccessToken,
				map[string]string{"email": fmt.Sprintf("guest%02d@example.com", i), "orgRole": "ORG_MEMBER"}, 201, nil)
		}
		invited := `document.querySelectorAll('.invitations li[data-email]').length`
		s.do("first page of invitations", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(bea)),
			until(invited+` === 50`), chromedp.Click(chromedp.CSS(`#invitations-h ~ .load-more`)), until(invited+` === 51`))
		if eval[int](s, `document.querySelectorAll('#invitations-h ~ .load-more').length`) != 0 {
			t.Error("Load more still shown after the last page")
		}
		s.do("revoke one", chromedp.Click(chromedp.CSS(`.invitations li[data-email="guest00@example.com"] button.danger`)),
			chromedp.Click(chromedp.CSS(`.invitations li[data-email="guest00@example.com"] .confirm-yes`)),
			until(invited+` === 50`))
		// The invitations fill the audit log's first page too.
		rows := `document.querySelectorAll('.audit-row').length`
		s.do("the next page of events", chromedp.Navigate(base+"/audit"), onPage("Audit log"),
			until(`document.querySelector('.tabs button[aria-pressed=true]')?.textContent.trim() === 'Acme'`),
			until(rows+` === 50`), chromedp.Click(chromedp.CSS(`.load-more`)), until(rows+` > 50`),
			chromedp.WaitVisible(chromedp.CSS(`.audit-row[data-action="org.member_role_changed"]`)))
	})
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
