package e2e

import (
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/switchboard/switchboard/internal/db/dbtest"
)

// Every screen of the dashboard, in the states a person meets it (field
// errors, a key shown once, an expanded audit entry, a confirmation
// dialog, the impersonation banner), passes axe-core without a serious or
// critical violation, in the light and the dark theme. One engine is
// enough: the pages do not depend on it. The workflow list and the
// studio (its trigger panel, versions and a step with an error) are
// checked where TestBrowser_WorkflowStudio draws them.
func TestBrowser_Accessibility(t *testing.T) {
	const adminEmail, adminPassword = "root@example.com", "root-password-12345"
	s := startEnv(t, dbtest.SQLite().URL(t), map[string]string{"SWITCHBOARD_ADMIN_EMAIL": adminEmail, "SWITCHBOARD_ADMIN_PASSWORD": adminPassword})
	base := s.node.URL
	const email = "ada@example.com"

	s.do("sign-up page", chromedp.Navigate(base+"/sign-up"), onPage("Create an account"))
	s.a11y("sign up")
	s.do("sign up with a short password",
		chromedp.SendKeys(chromedp.CSS(`input[name=name]`), "Ada Lovelace"),
		chromedp.SendKeys(chromedp.CSS(`input[name=email]`), email),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), "short"),
		chromedp.Click(chromedp.CSS(`button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`.field-error`)))
	s.a11y("sign up, field error")
	s.do("sign up",
		clearInput(`input[name=password]`),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), "first-password-1"),
		chromedp.Click(chromedp.CSS(`button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`.topbar`)),
		until(`!document.querySelector('.credits').textContent.includes('…')`))
	s.a11y("dashboard, address unverified")
	s.do("open the user menu", chromedp.Click(chromedp.CSS(`.user-menu summary`)), chromedp.WaitVisible(chromedp.CSS(`.menu`)))
	s.a11y("dashboard, user menu open")

	s.do("verify", chromedp.Navigate(s.mailedLink(email, "Confirm your email", 1)), chromedp.WaitVisible(chromedp.CSS(`.success`)))
	s.a11y("verify email")

	s.do("create an organization", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS(`.create-org`)),
		chromedp.SendKeys(chromedp.CSS(`input[name=orgName]`), "Acme"),
		chromedp.Click(chromedp.CSS(`.create-org button[type=submit]`)),
		onPage("Acme"), chromedp.WaitVisible(chromedp.CSS(`.members li[data-user="ada@example.com"]`)),
		chromedp.SendKeys(chromedp.CSS(`.invite-form input[name=email]`), "not-an-address"),
		chromedp.Click(chromedp.CSS(`.invite-form button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`.invite-form .field-error`)))
	s.a11y("organization, field error")
	s.do("invite",
		clearInput(`.invite-form input[name=email]`),
		chromedp.SendKeys(chromedp.CSS(`.invite-form input[name=email]`), "bea@example.com"),
		chromedp.Click(chromedp.CSS(`.invite-form button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`.invitations li[data-email="bea@example.com"]`)),
		chromedp.SendKeys(chromedp.CSS(`.dept-form input[name=name]`), "Support"),
		chromedp.Click(chromedp.CSS(`.dept-form button[type=submit]`)),
		until(`[...document.querySelectorAll('.departments strong')].some(e => e.textContent === 'Support')`),
		chromedp.Click(chromedp.CSS(`.invitations li[data-email="bea@example.com"] button.danger`)),
		chromedp.WaitVisible(chromedp.CSS(`.invitations li[data-email="bea@example.com"] .confirm-yes`)))
	s.a11y("organization, confirming a revocation")

	s.do("account", chromedp.Navigate(base+"/account"), chromedp.WaitVisible(chromedp.CSS(`#sessions-h`)),
		chromedp.WaitVisible(chromedp.CSS(`.list li button, .list li .badge`)),
		chromedp.SendKeys(chromedp.CSS(`.key-form input[name=name]`), "ci"),
		chromedp.Click(chromedp.CSS(`.key-form button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`.key-once .key`)))
	s.a11y("account, key shown once")

	s.do("audit", chromedp.Navigate(base+"/audit"), onPage("Audit log"),
		chromedp.WaitVisible(chromedp.CSS(`.audit-row[data-action="org.member_invited"]`)),
		chromedp.Click(chromedp.CSS(`.audit-row[data-action="org.member_invited"] summary`)),
		chromedp.WaitVisible(chromedp.CSS(`.audit-row[data-action="org.member_invited"] .audit-details`)))
	s.a11y("audit log, an entry open")

	s.signOutUI()
	s.a11y("sign in")
	s.do("not found", chromedp.Navigate(base+"/no-such-page"), onPage("Page not found"))
	s.a11y("not found")
	// The mailed email-change links, with a token that is not valid.
	s.do("confirm an email change", chromedp.Navigate(base+"/confirm-email-change?token=not-a-token"),
		onPage("Confirm your new email"), chromedp.WaitVisible(chromedp.CSS(`.error-box`)))
	s.a11y("confirm email change, refused")
	s.do("undo an email change", chromedp.Navigate(base+"/revert-email-change?token=not-a-token"),
		onPage("Undo the email change"), chromedp.WaitVisible(chromedp.CSS(`input[name=password]`)))
	s.a11y("undo email change")
	s.do("sign in again", chromedp.Navigate(base+"/sign-in"), onPage("Sign in"))
	s.do("wrong password",
		chromedp.SendKeys(chromedp.CSS(`input[name=email]`), email),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), "not-my-password"),
		chromedp.Click(chromedp.CSS(`button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`.error-box`)))
	s.a11y("sign in, refused")

	s.do("forgot password", chromedp.Navigate(base+"/forgot-password"), onPage("Reset your password"))
	s.a11y("forgot password")
	s.do("ask for a reset", chromedp.SendKeys(chromedp.CSS(`input[name=email]`), email),
		chromedp.Click(chromedp.CSS(`button[type=submit]`)), chromedp.WaitVisible(chromedp.CSS(`.success`)))
	s.a11y("forgot password, mail sent")
	s.do("reset page", chromedp.Navigate(s.mailedLink(email, "Reset your Switchboard password", 1)), onPage("Choose a new password"),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), "second-password-2"),
		chromedp.SendKeys(chromedp.CSS(`input[name=confirm]`), "second-password-3"),
		chromedp.Click(chromedp.CSS(`button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`.field-error`)))
	s.a11y("reset password, field error")

	s.do("invitation", chromedp.Navigate(s.mailedLink("bea@example.com", "You are invited", 1)), onPage("Join an organization"))
	s.a11y("accept invitation")

	s.signInAs(adminEmail, adminPassword)
	s.do("users", chromedp.Navigate(base+"/admin/users"), onPage("Users"),
		until(`document.querySelector('table.data tbody').textContent.includes('ada@example.com')`))
	s.a11y("admin users")
	s.do("ask to impersonate",
		chromedp.Click(chromedp.CSS(`button.impersonate`)),
		chromedp.WaitVisible(chromedp.CSS(`dialog.confirm[open]`)))
	s.a11y("admin users, confirmation dialog")
	s.do("impersonate", chromedp.Click(chromedp.CSS(`dialog.confirm[open] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`.impersonation-banner`)))
	s.a11y("impersonating")
	s.do("end impersonation", chromedp.Click(chromedp.CSS(`.impersonation-banner button`)), onPage("Users"),
		chromedp.WaitNotPresent(chromedp.CSS(`.impersonation-banner`)))

	s.do("flags", chromedp.Navigate(base+"/admin/flags"), onPage("Feature flags"),
		chromedp.Click(chromedp.CSS(`.page-head button.primary`)),
		chromedp.SendKeys(chromedp.CSS(`.flag-form input[name=key]`), "new_editor"),
		chromedp.Click(chromedp.CSS(`.flag-form button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`button[aria-label="Edit new_editor"]`)))
	s.a11y("admin flags")
	s.do("edit a flag",
		chromedp.Click(chromedp.CSS(`button[aria-label="Edit new_editor"]`)),
		chromedp.WaitVisible(chromedp.CSS(`.flag-form input[name=rollout]`)),
		chromedp.Click(chromedp.CSS(`.flag-form input[name=rollout]`)),
		chromedp.WaitVisible(chromedp.CSS(`#flag-pct`)),
		chromedp.Click(chromedp.CSS(`button.add-variant`)),
		chromedp.WaitVisible(chromedp.CSS(`input[name=variant-key-0]`)))
	s.a11y("admin flags, editing")

	s.do("marketplace", chromedp.Navigate(base+"/admin/marketplace"), onPage("Marketplace review"),
		until(`document.querySelector('table.data tbody').textContent.includes('Nothing here')`))
	s.a11y("admin marketplace")

	s.do("phone width", chromedp.EmulateViewport(375, 740, chromedp.EmulateScale(2)),
		chromedp.Navigate(base+"/admin/users"), onPage("Users"),
		until(`document.querySelector('table.data tbody').textContent.includes('ada@example.com')`))
	s.a11y("admin users at 375 px")
}
