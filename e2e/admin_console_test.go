package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/db/dbtest"
)

// The platform admin's console: a flag's "who gets it" preview, the
// flag's change reaching the user's dashboard, crediting a workspace, an
// impersonation that survives a reload and ends back in the admin's own
// session, and the system view.
func TestBrowser_AdminConsole(t *testing.T) {
	dbtest.EachURL(t, func(t *testing.T, url string) {
		const adminEmail, adminPassword = "root@example.com", "root-password-12345"
		const graceEmail, gracePassword = "grace@example.com", "grace-password-1"
		s := startEnv(t, url, map[string]string{"SWITCHBOARD_ADMIN_EMAIL": adminEmail, "SWITCHBOARD_ADMIN_PASSWORD": adminPassword})
		base := s.node.URL
		shot := func(name string) {
			if strings.HasSuffix(t.Name(), "/sqlite") {
				s.shot(name)
			}
		}
		s.apiCall("POST", "/api/v1/auth/signup", "", map[string]string{"email": graceEmail, "password": gracePassword, "name": "Grace Hopper"}, 201, nil)

		// A new flag for PRO plans only, with one variant: the preview
		// answers for Grace (FREE) as the form changes, before saving.
		s.signInAs(adminEmail, adminPassword)
		state := `document.querySelector('.preview-state')?.textContent.trim()`
		s.do("new flag",
			chromedp.Navigate(base+"/admin/flags"), onPage("Feature flags"),
			chromedp.Click(chromedp.CSS(`.page-head button.primary`)),
			chromedp.SendKeys(chromedp.CSS(`.flag-form input[name=key]`), "beta_inbox"),
			chromedp.SendKeys(chromedp.CSS(`.flag-form input[name=description]`), "The shared inbox"),
			chromedp.SendKeys(chromedp.CSS(`#pv-user`), graceEmail),
			until(state+` === 'on'`))
		if got := s.text(`.preview-why`); got == "" {
			t.Error("the preview does not say why")
		}
		if got := s.text(`.preview-subject`); !strings.Contains(got, "MEMBER") || !strings.Contains(got, "FREE") {
			t.Errorf("the preview's subject is %q, want Grace's role and plan", got)
		}
		s.do("target PRO", chromedp.Click(chromedp.CSS(`.flag-form input[value=PRO]`)), until(state+` === 'off'`))
		s.do("preview as PRO", pickOption(`#pv-plan`, "PRO"), until(state+` === 'on'`))
		s.do("add a variant", chromedp.Click(chromedp.CSS(`button.add-variant`)),
			chromedp.SendKeys(chromedp.CSS(`input[name=variant-key-0]`), "calm"),
			until(`document.querySelector('.preview-variant')?.textContent.includes('calm') === true`))
		// Grace's own plan is not targeted; a rollout reaches her at 100%
		// and leaves her out at 0%, naming her bucket.
		s.do("preview as Grace's own plan", pickOption(`#pv-plan`, ""), until(state+` === 'off'`))
		s.do("100% rollout", chromedp.Click(chromedp.CSS(`.flag-form input[name=rollout]`)),
			chromedp.WaitVisible(chromedp.CSS(`#flag-pct`)), until(state+` === 'on'`),
			until(`(() => { const e = document.querySelector('#flag-pct'); e.value = '0'; e.dispatchEvent(new Event('input', { bubbles: true })); return true })()`),
			until(state+` === 'off'`))
		if got := s.text(`.preview-why`); !strings.Contains(got, "bucket") {
			t.Errorf("a rollout preview shows no bucket: %q", got)
		}
		s.do("no rollout", chromedp.Click(chromedp.CSS(`.flag-form input[name=rollout]`)), chromedp.WaitNotPresent(chromedp.CSS(`#flag-pct`)),
			until(`document.querySelector('.preview-why')?.textContent.includes('no targeting list names the subject') === true`))
		shot("admin-flag-preview")
		s.do("save", chromedp.Click(chromedp.CSS(`.flag-form button[type=submit]`)), chromedp.WaitNotPresent(chromedp.CSS(`.flag-form`)),
			chromedp.WaitVisible(chromedp.CSS(`button[aria-label="Edit beta_inbox"]`)))

		// Grace does not have it yet.
		s.signOutUI()
		s.signInAs(graceEmail, gracePassword)
		s.do("grace's dashboard", until(`document.querySelector('.features') !== null && !document.querySelector('.features').textContent.includes('Loading')`))
		if eval[int](s, `document.querySelectorAll('.feature-list [data-flag="beta_inbox"]').length`) != 0 {
			t.Fatal("Grace sees a flag targeted at PRO plans")
		}
		s.signOutUI()

		// The admin opens it to everyone; Grace's dashboard shows it, with
		// her variant.
		s.signInAs(adminEmail, adminPassword)
		s.do("edit flag", chromedp.Navigate(base+"/admin/flags"), onPage("Feature flags"),
			chromedp.Click(chromedp.CSS(`button[aria-label="Edit beta_inbox"]`)),
			chromedp.WaitVisible(chromedp.CSS(`.flag-form input[value=PRO]:checked`)),
			chromedp.Click(chromedp.CSS(`.flag-form input[value=PRO]`)),
			chromedp.SendKeys(chromedp.CSS(`#pv-user`), graceEmail),
			until(state+` === 'on'`),
			chromedp.Click(chromedp.CSS(`.flag-form button[type=submit]`)), chromedp.WaitNotPresent(chromedp.CSS(`.flag-form`)))
		s.signOutUI()
		s.signInAs(graceEmail, gracePassword)
		s.do("grace sees the flag", chromedp.WaitVisible(chromedp.CSS(`.feature-list [data-flag="beta_inbox"]`)))
		if got := s.text(`.feature-list [data-flag="beta_inbox"]`); !strings.Contains(strings.ToLower(got), "calm") {
			t.Errorf("Grace's feature reads %q, want its variant", got)
		}
		shot("dashboard-features")
		s.signOutUI()

		// Credit Grace's workspace, after a confirmation.
		s.signInAs(adminEmail, adminPassword)
		findGrace := []chromedp.Action[chromedp.Void]{
			chromedp.Navigate(base + "/admin/users"), onPage("Users"),
			until(`document.querySelector('table.data tbody').textContent.includes('grace@example.com')`),
		}
		s.do("find grace", findGrace...)
		s.do("credit form", chromedp.Click(chromedp.CSS(`button[aria-label="Add credits to grace@example.com"]`)),
			chromedp.WaitVisible(chromedp.CSS(`.grant-form`)),
			chromedp.SendKeys(chromedp.CSS(`.grant-form input[name=amount]`), "abc"),
			chromedp.Click(chromedp.CSS(`.grant-form button[type=submit]`)),
			chromedp.WaitVisible(chromedp.CSS(`.grant-form .field.invalid`)))
		if eval[bool](s, `document.querySelector('dialog.confirm[open]') !== null`) {
			t.Fatal("an invalid amount asked for confirmation")
		}
		s.do("credit 12.5", clearInput(`.grant-form input[name=amount]`),
			chromedp.SendKeys(chromedp.CSS(`.grant-form input[name=amount]`), "12.5"),
			chromedp.SendKeys(chromedp.CSS(`.grant-form input[name=reason]`), "Goodwill after an outage"),
			chromedp.Click(chromedp.CSS(`.grant-form button[type=submit]`)),
			chromedp.WaitVisible(chromedp.CSS(`.credit-grant dialog.confirm[open]`)))
		shot("admin-credit-grant-confirm")
		s.do("confirm credit", chromedp.Click(chromedp.CSS(`.credit-grant dialog.confirm[open] button[type=submit]`)),
			chromedp.WaitVisible(chromedp.CSS(`.credit-grant .success`)))
		if got := s.text(`.credit-grant .success`); !strings.Contains(got, "12.5") {
			t.Errorf("the grant says %q", got)
		}
		var bal struct{ Available int64 }
		var tok struct{ AccessToken string }
		s.apiCall("POST", "/api/v1/auth/login", "", map[string]string{"email": graceEmail, "password": gracePassword}, 200, &tok)
		s.apiCall("GET", "/api/v1/credits", tok.AccessToken, nil, 200, &bal)
		if bal.Available < 12500 {
			t.Errorf("Grace's balance is %d millicredits after a grant of 12500", bal.Available)
		}

		// Impersonate Grace; a reload keeps the impersonation and the
		// banner naming the admin (read from GET /me).
		s.do("impersonate", chromedp.Click(chromedp.CSS(`button.impersonate`)),
			chromedp.WaitVisible(chromedp.CSS(`dialog.confirm[open]`)),
			chromedp.Click(chromedp.CSS(`dialog.confirm[open] button[type=submit]`)),
			chromedp.WaitVisible(chromedp.CSS(`.impersonation-banner`)))
		s.do("reload while impersonating", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(`.impersonation-banner`)))
		if got := s.text(`.impersonation-banner`); !strings.Contains(got, "Grace Hopper") || !strings.Contains(got, adminEmail) {
			t.Errorf("after a reload the banner says %q", got)
		}
		if got := eval[string](s, `document.querySelector('.menu-email').textContent`); got != graceEmail {
			t.Errorf("after a reload the shell is %q's", got)
		}
		shot("admin-impersonating-reloaded")
		s.do("end impersonation", chromedp.Click(chromedp.CSS(`.impersonation-banner button`)), onPage("Users"),
			chromedp.WaitNotPresent(chromedp.CSS(`.impersonation-banner`)), chromedp.WaitVisible(chromedp.CSS(`.admin-nav`)))
		if got := eval[string](s, `document.querySelector('.menu-email').textContent`); got != adminEmail {
			t.Errorf("after ending the impersonation the shell is %q's", got)
		}
		s.do("reload as the admin", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(`.admin-nav`)))
		if eval[int](s, `document.querySelectorAll('.impersonation-banner').length`) != 0 {
			t.Error("the ended impersonation came back on reload")
		}
		// An impersonation the server stops taking (here: Grace is signed
		// out everywhere) hands the tab back to the admin at its next call.
		s.do("impersonate again", chromedp.Navigate(base+"/admin/users"), onPage("Users"),
			until(`document.querySelector('table.data tbody').textContent.includes('grace@example.com')`),
			chromedp.Click(chromedp.CSS(`button.impersonate`)),
			chromedp.WaitVisible(chromedp.CSS(`dialog.confirm[open]`)),
			chromedp.Click(chromedp.CSS(`dialog.confirm[open] button[type=submit]`)),
			chromedp.WaitVisible(chromedp.CSS(`.impersonation-banner`)))
		var graceUser struct {
			User struct{ ID string }
		}
		var admin struct{ AccessToken string }
		s.apiCall("POST", "/api/v1/auth/login", "", map[string]string{"email": graceEmail, "password": gracePassword}, 200, &graceUser)
		s.apiCall("POST", "/api/v1/auth/login", "", map[string]string{"email": adminEmail, "password": adminPassword}, 200, &admin)
		s.apiCall("POST", "/api/v1/admin/users/"+graceUser.User.ID+"/revoke-sessions", admin.AccessToken, nil, 200, nil)
		s.do("next call", chromedp.Click(chromedp.CSS(`.subnav a[href="/audit"]`)), onPage("Audit log"),
			chromedp.WaitNotPresent(chromedp.CSS(`.impersonation-banner`)),
			until(`document.querySelector('.menu-email')?.textContent === `+jsString(adminEmail)))

		// The ended impersonation session is revoked on the server.
		var page struct {
			Items []struct {
				Action string `json:"action"`
			} `json:"items"`
		}
		var admTok struct{ AccessToken string }
		s.apiCall("POST", "/api/v1/auth/login", "", map[string]string{"email": adminEmail, "password": adminPassword}, 200, &admTok)
		s.apiCall("GET", "/api/v1/admin/audit?action=admin.impersonation_ended", admTok.AccessToken, nil, 200, &page)
		if len(page.Items) != 1 {
			t.Errorf("%d impersonation_ended audit events, want 1", len(page.Items))
		}

		// The system view: this node, and the mail queue Grace's sign-up used.
		s.do("system view", chromedp.Click(chromedp.CSS(`.admin-nav a[href="/admin/system"]`)), onPage("System"),
			chromedp.WaitVisible(chromedp.CSS(`.nodes tbody tr[data-node]`)),
			until(`document.querySelector('.queues tbody tr[data-queue]') !== null ||
				(document.querySelector('button.refresh:not([disabled])')?.click(), false)`))
		if got := s.text(`.nodes tbody tr[data-node]`); !strings.Contains(strings.ToLower(got), "alive") {
			t.Errorf("the node reads %q", got)
		}
		s.do("refresh", chromedp.Click(chromedp.CSS(`button.refresh`)), until(`!document.querySelector('button.refresh').disabled`),
			chromedp.WaitVisible(chromedp.CSS(`.queues tbody tr[data-queue]`)))
		shot("admin-system")
		s.do("system on a phone", chromedp.EmulateViewport(375, 740, chromedp.EmulateScale(2)), setScheme("dark"),
			chromedp.Reload(), onPage("System"), chromedp.WaitVisible(chromedp.CSS(`.queues tbody tr[data-queue]`)))
		if eval[bool](s, `document.documentElement.scrollWidth > window.innerWidth`) {
			t.Error("the system page scrolls sideways at 375 px")
		}
		shot("admin-system-375-dark")
		s.do("flags on a phone", chromedp.Navigate(base+"/admin/flags"), onPage("Feature flags"),
			chromedp.Click(chromedp.CSS(`button[aria-label="Edit beta_inbox"]`)),
			chromedp.WaitVisible(chromedp.CSS(`.preview-form`)))
		if eval[bool](s, `document.documentElement.scrollWidth > window.innerWidth`) {
			t.Error("the flag editor scrolls sideways at 375 px")
		}
	})
}

// An organization owner resends an expired invitation and sees each
// invitation's status; the audit log verifies its chain and downloads
// the filtered rows as CSV and NDJSON.
func TestBrowser_InvitationResendAuditVerifyExport(t *testing.T) {
	dbtest.EachURL(t, func(t *testing.T, url string) {
		s := start(t, url)
		shot := func(name string) {
			if strings.HasSuffix(t.Name(), "/sqlite") {
				s.shot(name)
			}
		}
		s.apiCall("POST", "/api/v1/auth/signup", "", map[string]string{"email": "olive@example.com", "password": "olive-password-1", "name": "Olive"}, 201, nil)
		s.signInAs("olive@example.com", "olive-password-1")
		s.do("create org", chromedp.SendKeys(chromedp.CSS(`.create-org input[name=orgName]`), "Acme"),
			chromedp.Click(chromedp.CSS(`.create-org button[type=submit]`)), onPage("Acme"),
			chromedp.SendKeys(chromedp.CSS(`.invite-form input[name=email]`), "pat@example.com"),
			chromedp.Click(chromedp.CSS(`.invite-form button[type=submit]`)),
			chromedp.WaitVisible(chromedp.CSS(`.invitations li[data-email="pat@example.com"][data-status=pending]`)))
		pat := `.invitations li[data-email="pat@example.com"]`
		first := s.mailedLink("pat@example.com", "You are invited", 1)

		// Right after sending, a resend is refused with the API's message
		// and request id.
		s.expect("status of 429")
		s.do("resend too soon", chromedp.Click(chromedp.CSS(pat+` button.resend`)), chromedp.WaitVisible(chromedp.CSS(`#invitations-h ~ .error-box`)))
		if got := s.text(`#invitations-h ~ .error-box`); !strings.Contains(got, "less than a minute ago") || !strings.Contains(got, "Request id") {
			t.Errorf("a refused resend shows %q", got)
		}

		// A week later the invitation has expired: it shows as such and
		// resending mails a new link.
		d := dbtest.Open(t, url)
		if err := d.Tx(context.Background(), func(tx *db.Tx) error {
			_, err := tx.ExecContext(context.Background(), `UPDATE invitations SET expires_at = $1 WHERE email = $2`,
				db.Now().Add(-time.Hour), "pat@example.com")
			return err
		}); err != nil {
			t.Fatal(err)
		}
		s.do("expired list", pickOption(`#inv-status`, "expired"),
			chromedp.WaitVisible(chromedp.CSS(pat+`[data-status=expired] button.resend`)))
		if eval[int](s, `document.querySelectorAll('`+pat+` button.danger').length`) != 0 {
			t.Error("an expired invitation offers to revoke it")
		}
		shot("org-invitation-expired")
		s.do("resend", chromedp.Click(chromedp.CSS(pat+` button.resend`)),
			chromedp.WaitVisible(chromedp.CSS(`#invitations-h ~ .success`)), chromedp.WaitNotPresent(chromedp.CSS(pat)))
		if got := s.text(`#invitations-h ~ .success`); !strings.Contains(got, "pat@example.com") {
			t.Errorf("the resend says %q", got)
		}
		if second := s.mailedLink("pat@example.com", "You are invited", 2); second == first {
			t.Error("the resent invitation carries the old link")
		}
		s.do("pending again", pickOption(`#inv-status`, "pending"),
			chromedp.WaitVisible(chromedp.CSS(pat+`[data-status=pending] button.resend`)),
			chromedp.WaitVisible(chromedp.CSS(pat+` button.danger`)))
		s.do("all", pickOption(`#inv-status`, ""), chromedp.WaitVisible(chromedp.CSS(pat+`[data-status=pending]`)))
		shot("org-invitations")

		// The organization's audit log: verify the chain, then export.
		s.do("audit", chromedp.Click(chromedp.CSS(`.subnav a[href="/audit"]`)), onPage("Audit log"),
			chromedp.WaitVisible(chromedp.CSS(`.audit-row[data-action="org.invitation_resent"]`)),
			chromedp.Click(chromedp.CSS(`button.verify`)), chromedp.WaitVisible(chromedp.CSS(`.chain-ok`)))
		if got := s.text(`.chain-state`); !strings.Contains(got, "rows checked") {
			t.Errorf("the chain state reads %q", got)
		}
		shot("audit-verified")
		dir := t.TempDir()
		s.do("export csv", downloadsTo(dir), chromedp.Click(chromedp.CSS(`button.export-csv`)))
		csv := s.downloaded(dir, "*.csv")
		if !strings.HasPrefix(csv, "id,seq,createdAt,") || !strings.Contains(csv, "org.invitation_resent") || !strings.Contains(csv, "org.member_invited") {
			t.Errorf("the CSV export reads:\n%s", csv)
		}
		// With a filter, only the matching rows.
		s.do("filtered ndjson", chromedp.SendKeys(chromedp.CSS(`.filters input[name=action]`), "org.invitation_resent"),
			chromedp.Click(chromedp.CSS(`.filters button[type=submit]`)),
			until(`document.querySelectorAll('.audit-row').length === 1`),
			chromedp.Click(chromedp.CSS(`button.export-ndjson`)))
		nd := s.downloaded(dir, "*.ndjson")
		var n int
		sc := bufio.NewScanner(strings.NewReader(nd))
		for sc.Scan() {
			var row struct {
				Action string `json:"action"`
			}
			if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
				t.Fatalf("NDJSON line %q: %v", sc.Text(), err)
			}
			if row.Action != "org.invitation_resent" {
				t.Errorf("the filtered export holds %s", row.Action)
			}
			n++
		}
		if n != 1 {
			t.Errorf("the filtered export holds %d rows, want 1", n)
		}
		// Her own log verifies too.
		s.do("own log", chromedp.Click(chromedp.CSS(`.tabs button:last-child`)),
			until(`document.querySelector('.chain-ok') === null`),
			chromedp.Click(chromedp.CSS(`button.verify`)), chromedp.WaitVisible(chromedp.CSS(`.chain-ok`)))
	})
}
