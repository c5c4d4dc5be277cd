package e2e

import (
	"regexp"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/switchboard/switchboard/internal/db/dbtest"
)

// Sign-in failures in the browser: a wrong password, an unknown address
// and a locked account (after five failures, even the right password)
// read the same, the page says sign-in pauses after repeated failures,
// and when the address's sign-in attempts run out (429) the page says how
// long to wait.
func TestBrowser_SignInLockoutAndWait(t *testing.T) {
	dbtest.EachURL(t, func(t *testing.T, url string) {
		s := startEnv(t, url, map[string]string{"SWITCHBOARD_AUTH_RATE_LIMIT": "20"})
		base := s.node.URL
		const email, password = "lin@example.com", "lin-password-1"
		s.apiCall("POST", "/api/v1/auth/signup", "", map[string]string{"email": email, "password": password, "name": "Lin"}, 201, nil)

		// attempt signs in from a fresh sign-in page and returns the
		// page's error message.
		attempt := func(email, password string) string {
			t.Helper()
			s.do("sign in as "+email,
				chromedp.Navigate(base+"/sign-in"), onPage("Sign in"),
				chromedp.SendKeys(chromedp.CSS(`input[name=email]`), email),
				chromedp.SendKeys(chromedp.CSS(`input[name=password]`), password),
				chromedp.Click(chromedp.CSS(`button[type=submit]`)),
				chromedp.WaitVisible(chromedp.CSS(`.error-box`)))
			return s.text(`.error-message`)
		}
		// again submits the form once more (one request; loading the page
		// costs one more, a refresh) and returns the new error message.
		again := func() string {
			t.Helper()
			prev := eval[string](s, `document.querySelector('.error-meta code')?.textContent ?? ''`)
			s.do("submit again", chromedp.Click(chromedp.CSS(`button[type=submit]`)),
				until(`(document.querySelector('.error-meta code')?.textContent ?? '') !== `+jsString(prev)))
			return s.text(`.error-message`)
		}

		wrong := attempt(email, "not-the-password")
		if wrong == "" {
			t.Fatal("a wrong password shows no message")
		}
		if got := s.text(`.fine-print`); !strings.Contains(got, "pauses") {
			t.Errorf("the sign-in page does not say it pauses after failures: %q", got)
		}
		if got := attempt("nobody@example.com", "not-the-password"); got != wrong {
			t.Errorf("an unknown address reads %q, a wrong password %q", got, wrong)
		}
		attempt(email, "not-the-password")
		for range 3 {
			again()
		}
		// Locked now: the right password is refused with the same words.
		if got := attempt(email, password); got != wrong {
			t.Errorf("a locked account reads %q, a wrong password %q", got, wrong)
		}
		if strings.HasSuffix(t.Name(), "/sqlite") {
			s.shot("sign-in-locked")
		}

		// Out of attempts for this address: the answer says how long to wait.
		waitRE := regexp.MustCompile(`(retry|try again) in \d+ seconds?`)
		var got string
		for range 40 {
			if got = again(); waitRE.MatchString(got) {
				break
			}
		}
		if !waitRE.MatchString(got) {
			t.Fatalf("no wait shown after the address ran out of attempts: %q", got)
		}
		if n := len(waitRE.FindAllString(got, -1)); n != 1 {
			t.Errorf("the wait is told %d times: %q", n, got)
		}
		s.expectProblem("status of 429")
		if strings.HasSuffix(t.Name(), "/sqlite") {
			s.shot("sign-in-rate-limited")
		}
	})
}
