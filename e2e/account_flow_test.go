package e2e

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/switchboard/switchboard/internal/db/dbtest"
)

// The first thing a new user does: sign up, confirm the address through
// the mailed link, sign out, forget the password, reset it through the
// mailed link, and sign in with the new one — all in the browser.
func TestBrowser_SignUpVerifyResetSignIn(t *testing.T) {
	dbtest.EachURL(t, func(t *testing.T, url string) {
		s := start(t, url)
		base := s.node.URL
		const email = "ada@example.com"
		// Screenshots come from the first engine only; they look the same.
		shot := func(name string) {
			if strings.HasSuffix(t.Name(), "/sqlite") {
				s.shot(name)
			}
		}

		s.do("open sign-up", chromedp.Navigate(base+"/sign-up"), onPage("Create an account"))
		s.do("fill sign-up",
			chromedp.SendKeys(chromedp.CSS(`input[name=name]`), "Ada Lovelace"),
			chromedp.SendKeys(chromedp.CSS(`input[name=email]`), email),
			chromedp.SendKeys(chromedp.CSS(`input[name=password]`), "short"),
			chromedp.Click(chromedp.CSS(`button[type=submit]`)))
		// The API's field error shows beside the field.
		if msg := s.text(`.field-error`); msg == "" {
			t.Fatal("no inline error for a short password")
		}
		shot("sign-up-error")
		s.do("fix password",
			clearInput(`input[name=password]`),
			chromedp.SendKeys(chromedp.CSS(`input[name=password]`), "first-password-1"),
			chromedp.Click(chromedp.CSS(`button[type=submit]`)),
			chromedp.WaitVisible(chromedp.CSS(`.topbar`)))
		if got := s.text(`.notice`); !strings.Contains(got, "Confirm your email") {
			t.Fatalf("no unverified notice: %q", got)
		}
		if got := s.text(`.badge`); got == "" {
			t.Error("no plan badge")
		}
		s.do("credit balance loads", until(`!document.querySelector('.credits').textContent.includes('…')`))
		shot("dashboard-unverified")

		// The access token is in memory only, the refresh token in an
		// HttpOnly cookie: a reload stays signed in, and no script sees
		// either token.
		s.do("reload", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(`.topbar`)))
		cookie := eval[string](s, `document.cookie`)
		stored := eval[int](s, `localStorage.length + sessionStorage.length`)
		if cookie != "" || stored != 0 {
			t.Errorf("tokens visible to scripts: cookie %q, %d stored items", cookie, stored)
		}

		link := s.mailedLink(email, "Confirm your email", 1)
		if !strings.HasPrefix(link, base+"/verify-email?token=") {
			t.Fatalf("verification link %q", link)
		}
		s.do("open verification link", chromedp.Navigate(link))
		if got := s.text(`.success`); !strings.Contains(got, "verified") {
			t.Fatalf("verification page says %q", got)
		}
		shot("verify-email")
		s.do("continue", chromedp.Click(chromedp.CSS(`a.button.primary`)), chromedp.WaitVisible(chromedp.CSS(`.topbar`)))
		if eval[int](s, `document.querySelectorAll('.notice').length`) != 0 {
			t.Error("still says the address is unverified")
		}
		shot("dashboard")

		// Account page: at 375 px and in dark mode too.
		s.do("open account", chromedp.Navigate(base+"/account"), chromedp.WaitVisible(chromedp.CSS(`#sessions-h`)),
			chromedp.WaitVisible(chromedp.CSS(`.list li button, .list li .badge`)))
		// An API key is shown once, then listed by its prefix only, and
		// can be revoked.
		s.do("create an API key",
			chromedp.SendKeys(chromedp.CSS(`.key-form input[name=name]`), "ci"),
			chromedp.Click(chromedp.CSS(`.key-form button[type=submit]`)),
			chromedp.WaitVisible(chromedp.CSS(`.key-once .key`)))
		key := s.text(`.key-once .key`)
		if len(key) < 20 {
			t.Fatalf("new key %q", key)
		}
		shot("account")
		s.do("dismiss the key", chromedp.Click(chromedp.CSS(`.key-once button:last-of-type`)),
			chromedp.WaitNotPresent(chromedp.CSS(`.key-once`)))
		if html := s.html(); strings.Contains(html, key) {
			t.Error("the key is still in the page after it was dismissed")
		}
		s.do("revoke it", chromedp.Click(chromedp.CSS(`.list li button.danger`)),
			chromedp.WaitNotPresent(chromedp.CSS(`.list li button.danger`)))
		s.do("phone width", chromedp.EmulateViewport(375, 740, chromedp.EmulateScale(2)), setScheme("dark"),
			chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS(`.topbar`)))
		if eval[bool](s, `document.documentElement.scrollWidth > window.innerWidth`) {
			t.Error("the dashboard scrolls sideways at 375 px")
		}
		shot("dashboard-375-dark")
		s.do("desktop width", chromedp.EmulateViewport(1280, 800), setScheme("light"))

		// Sign out through the user menu.
		s.do("sign out",
			chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS(`.user-menu summary`)),
			chromedp.Click(chromedp.CSS(`.user-menu summary`)),
			chromedp.Click(chromedp.CSS(`.menu button`)),
			onPage("Sign in"))
		// Signed out for good: a reload lands on sign-in again.
		s.do("reload signed out", chromedp.Navigate(base+"/account"), onPage("Sign in"))

		// A wrong password reads like any failed sign-in, with the
		// request id to quote.
		s.do("wrong password",
			chromedp.SendKeys(chromedp.CSS(`input[name=email]`), email),
			chromedp.SendKeys(chromedp.CSS(`input[name=password]`), "not-my-password"),
			chromedp.Click(chromedp.CSS(`button[type=submit]`)))
		if got := s.text(`.error-box`); !strings.Contains(got, "Request id") {
			t.Errorf("sign-in error without a request id: %q", got)
		}
		if got := s.text(`.fine-print`); !strings.Contains(got, "pauses") {
			t.Errorf("sign-in page does not say it pauses after failures: %q", got)
		}
		shot("sign-in-error")

		s.do("forgot password",
			chromedp.Click(chromedp.CSS(`a[href="/forgot-password"]`)),
			onPage("Reset your password"),
			chromedp.SendKeys(chromedp.CSS(`input[name=email]`), email),
			chromedp.Click(chromedp.CSS(`button[type=submit]`)))
		if got := s.text(`.success`); !strings.Contains(got, "Check your inbox") {
			t.Fatalf("forgot-password page says %q", got)
		}
		shot("forgot-password")

		link = s.mailedLink(email, "Reset your Switchboard password", 1)
		if !strings.HasPrefix(link, base+"/reset-password?token=") {
			t.Fatalf("reset link %q", link)
		}
		s.do("open reset link", chromedp.Navigate(link), onPage("Choose a new password"),
			chromedp.SendKeys(chromedp.CSS(`input[name=password]`), "second-password-2"),
			chromedp.SendKeys(chromedp.CSS(`input[name=confirm]`), "second-password-3"),
			chromedp.Click(chromedp.CSS(`button[type=submit]`)))
		if got := s.text(`.field-error`); !strings.Contains(got, "differ") {
			t.Errorf("mismatched passwords: %q", got)
		}
		shot("reset-password")
		s.do("set new password",
			clearInput(`input[name=confirm]`),
			chromedp.SendKeys(chromedp.CSS(`input[name=confirm]`), "second-password-2"),
			chromedp.Click(chromedp.CSS(`button[type=submit]`)))
		if got := s.text(`.success`); !strings.Contains(got, "password is changed") {
			t.Fatalf("after reset: %q", got)
		}
		shot("sign-in")

		s.do("sign in with the new password",
			chromedp.SendKeys(chromedp.CSS(`input[name=email]`), email),
			chromedp.SendKeys(chromedp.CSS(`input[name=password]`), "second-password-2"),
			chromedp.Click(chromedp.CSS(`button[type=submit]`)),
			chromedp.WaitVisible(chromedp.CSS(`.topbar`)))
		if got := eval[string](s, `document.querySelector('.menu-email').textContent`); got != email {
			t.Errorf("user menu shows %q", got)
		}
	})
}
