package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/switchboard/switchboard/internal/db/dbtest"
)

// The platform admin's day: sign in, change a feature flag's rollout,
// act as a customer to see what they see (with a banner saying so), and
// go back to their own session.
func TestBrowser_AdminFlagsImpersonation(t *testing.T) {
	dbtest.EachURL(t, func(t *testing.T, url string) {
		const adminEmail, adminPassword = "root@example.com", "root-password-12345"
		s := startEnv(t, url, map[string]string{"SWITCHBOARD_ADMIN_EMAIL": adminEmail, "SWITCHBOARD_ADMIN_PASSWORD": adminPassword})
		base := s.node.URL
		shot := func(name string) {
			if strings.HasSuffix(t.Name(), "/sqlite") {
				s.shot(name)
			}
		}
		s.signUp("grace@example.com", "grace-password-1", "Grace Hopper")

		s.do("admin signs in",
			chromedp.Navigate(base+"/sign-in"), onPage("Sign in"),
			chromedp.SendKeys(chromedp.CSS(`input[name=email]`), adminEmail),
			chromedp.SendKeys(chromedp.CSS(`input[name=password]`), adminPassword),
			chromedp.Click(chromedp.CSS(`button[type=submit]`)),
			chromedp.WaitVisible(chromedp.CSS(`.admin-nav`)))

		// Create a flag, then edit it: a 40% rollout with two variants.
		s.do("new flag",
			chromedp.Click(chromedp.CSS(`.admin-nav a[href="/admin/flags"]`)), onPage("Feature flags"),
			chromedp.Click(chromedp.CSS(`.page-head button.primary`)),
			chromedp.SendKeys(chromedp.CSS(`.flag-form input[name=key]`), "new_editor"),
			chromedp.SendKeys(chromedp.CSS(`.flag-form input[name=description]`), "The rewritten workflow editor"),
			chromedp.Click(chromedp.CSS(`.flag-form button[type=submit]`)),
			chromedp.WaitVisible(chromedp.CSS(`button[aria-label="Edit new_editor"]`)))
		flagRow := `[...document.querySelectorAll('table.data tbody tr')].find((r) => r.textContent.includes('new_editor')).textContent`
		if got := eval[string](s, flagRow); !strings.Contains(got, "everyone") {
			t.Fatalf("new flag's row: %q", got)
		}
		s.do("edit flag",
			chromedp.Click(chromedp.CSS(`button[aria-label="Edit new_editor"]`)),
			chromedp.WaitVisible(chromedp.CSS(`.flag-form input[name=rollout]`)),
			chromedp.Click(chromedp.CSS(`.flag-form input[name=rollout]`)),
			chromedp.WaitVisible(chromedp.CSS(`#flag-pct`)),
			until(`(() => { const e = document.querySelector('#flag-pct'); e.value = '40'; e.dispatchEvent(new Event('input', { bubbles: true })); return true })()`),
			chromedp.Click(chromedp.CSS(`.flag-form input[value=PRO]`)),
			chromedp.Click(chromedp.CSS(`button.add-variant`)),
			chromedp.SendKeys(chromedp.CSS(`input[name=variant-key-0]`), "blue"),
			chromedp.Click(chromedp.CSS(`button.add-variant`)),
			chromedp.SendKeys(chromedp.CSS(`input[name=variant-key-1]`), "green"),
			clearInput(`input[name=variant-weight-0]`),
			chromedp.SendKeys(chromedp.CSS(`input[name=variant-weight-0]`), "60"),
			clearInput(`input[name=variant-weight-1]`),
			chromedp.SendKeys(chromedp.CSS(`input[name=variant-weight-1]`), "40"))
		if got := s.text(`.slider output`); got != "40%" {
			t.Errorf("slider shows %q", got)
		}
		shot("admin-flag-edit")
		s.do("save flag", chromedp.Click(chromedp.CSS(`.flag-form button[type=submit]`)), chromedp.WaitNotPresent(chromedp.CSS(`.flag-form`)))
		row := eval[string](s, flagRow)
		for _, want := range []string{"PRO", "40%", "blue (60)", "green (40)"} {
			if !strings.Contains(row, want) {
				t.Errorf("edited flag's row %q lacks %q", row, want)
			}
		}
		shot("admin-flags")

		// Impersonate Grace: the shell is hers, under a banner naming her.
		s.do("find the user",
			chromedp.Click(chromedp.CSS(`.admin-nav a[href="/admin/users"]`)), onPage("Users"),
			chromedp.SendKeys(chromedp.CSS(`#user-q`), "grace"),
			chromedp.Click(chromedp.CSS(`form[role=search] button[type=submit]`)),
			until(`document.querySelectorAll('table.data tbody tr').length === 1 && document.querySelector('table.data tbody').textContent.includes('grace@example.com')`))
		shot("admin-users")
		// Keyboard only: the dialog takes the focus, and Escape cancels.
		s.do("impersonate by keyboard",
			chromedp.Focus(chromedp.CSS(`button.impersonate`)), chromedp.KeyEvent(kb.Enter),
			chromedp.WaitVisible(chromedp.CSS(`dialog.confirm[open]`)),
			until(`document.activeElement.closest('dialog[open]') !== null`),
			chromedp.KeyEvent(kb.Escape),
			chromedp.WaitNotPresent(chromedp.CSS(`dialog.confirm[open]`)))
		if eval[int](s, `document.querySelectorAll('.impersonation-banner').length`) != 0 {
			t.Fatal("Escape did not cancel the impersonation")
		}
		// Asked again before the close event of the last answer arrived
		// (a quick Escape and click): that event does not cancel the new
		// question.
		s.do("ask again before the close event", chromedp.Evaluate[chromedp.Void](`(() => {
				const b = document.querySelector('button.impersonate');
				b.click();
				document.querySelector('dialog.confirm').close();
				b.click();
			})()`))
		time.Sleep(300 * time.Millisecond)
		if !eval[bool](s, `document.querySelector('dialog.confirm').open`) {
			t.Fatal("the close event of the last question closed the new one")
		}
		s.do("cancel it", chromedp.Click(chromedp.CSS(`dialog.confirm[open] .dialog-actions button[type=button]`)),
			chromedp.WaitNotPresent(chromedp.CSS(`dialog.confirm[open]`)))
		s.do("impersonate",
			chromedp.Click(chromedp.CSS(`button.impersonate`)),
			chromedp.WaitVisible(chromedp.CSS(`dialog.confirm[open]`)))
		shot("admin-impersonate-confirm")
		s.do("confirm", chromedp.Click(chromedp.CSS(`dialog.confirm[open] button[type=submit]`)),
			chromedp.WaitVisible(chromedp.CSS(`.impersonation-banner`)))
		if got := s.text(`.impersonation-banner`); !strings.Contains(got, "You are impersonating Grace Hopper") || !strings.Contains(got, adminEmail) {
			t.Errorf("banner says %q", got)
		}
		if got := eval[string](s, `document.querySelector('.menu-email').textContent`); got != "grace@example.com" {
			t.Errorf("the shell shows %q while impersonating", got)
		}
		if eval[int](s, `document.querySelectorAll('.admin-nav').length`) != 0 {
			t.Error("the impersonated member sees the admin navigation")
		}
		shot("admin-impersonating")

		s.do("end impersonation", chromedp.Click(chromedp.CSS(`.impersonation-banner button`)), onPage("Users"),
			chromedp.WaitNotPresent(chromedp.CSS(`.impersonation-banner`)), chromedp.WaitVisible(chromedp.CSS(`.admin-nav`)))
		if got := eval[string](s, `document.querySelector('.menu-email').textContent`); got != adminEmail {
			t.Errorf("after impersonation the shell is %q's", got)
		}
		// The admin's own session survived: a reload is still the admin.
		s.do("reload", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(`.admin-nav`)))

		s.do("review queue", chromedp.Click(chromedp.CSS(`.admin-nav a[href="/admin/marketplace"]`)), onPage("Marketplace review"),
			until(`document.querySelector('table.data tbody').textContent.includes('Nothing here')`))
		shot("admin-marketplace")

		s.do("phone width", chromedp.EmulateViewport(375, 740, chromedp.EmulateScale(2)), setScheme("dark"),
			chromedp.Navigate(base+"/admin/users"), onPage("Users"),
			until(`document.querySelector('table.data tbody').textContent.includes('grace@example.com')`))
		if eval[bool](s, `document.documentElement.scrollWidth > window.innerWidth`) {
			t.Error("the users page scrolls sideways at 375 px")
		}
		shot("admin-users-375-dark")
		s.do("flags on a phone", chromedp.Navigate(base+"/admin/flags"), onPage("Feature flags"),
			chromedp.WaitVisible(chromedp.CSS(`button[aria-label="Edit new_editor"]`)))
		if eval[bool](s, `document.documentElement.scrollWidth > window.innerWidth`) {
			t.Error("the flags page scrolls sideways at 375 px")
		}
		shot("admin-flags-375-dark")
	})
}
