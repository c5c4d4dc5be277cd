package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/switchboard/switchboard/internal/db/dbtest"
)

// A user turns on an authenticator app from the account page (codes are
// computed here, as the app would), keeps the recovery codes, signs out,
// and signs back in with the password and then a code; next time with a
// recovery code instead.
func TestBrowser_TwoFactorEnrollAndSignIn(t *testing.T) {
	dbtest.EachURL(t, func(t *testing.T, url string) {
		s := start(t, url)
		base := s.node.URL
		const email, password = "tess@example.com", "tess-password-1"
		s.apiCall("POST", "/api/v1/auth/signup", "", map[string]string{"email": email, "password": password, "name": "Tess"}, 201, nil)
		s.signInAs(email, password)
		s.do("open account", chromedp.Navigate(base+"/account"), chromedp.WaitVisible(chromedp.CSS(`#twofactor-h`)),
			chromedp.WaitVisible(chromedp.CSS(`#twofactor-begin`)))
		s.do("start enrollment", chromedp.Click(chromedp.CSS(`#twofactor-begin`)), chromedp.WaitVisible(chromedp.CSS(`#twofactor-secret`)))
		secret := s.text(`#twofactor-secret`)
		// The QR code is drawn in the page from the otpauth URL: a square
		// of 4·version+17 modules plus the two-module quiet zone each side.
		qrSize := eval[int](s, `+document.querySelector('#twofactor-qr').viewBox.baseVal.width`)
		qrPath := eval[string](s, `document.querySelector('#twofactor-qr path').getAttribute('d')`)
		if qrSize < 25 || (qrSize-4-17)%4 != 0 || strings.Count(qrPath, "M") < 100 {
			t.Errorf("enrollment QR code: %d modules wide, %d dark", qrSize, strings.Count(qrPath, "M"))
		}
		if strings.HasSuffix(t.Name(), "/sqlite") {
			s.shot("two-factor-enroll")
		}
		code := func(at time.Time) string {
			c, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
			if err != nil {
				t.Fatal(err)
			}
			return c
		}
		first := code(time.Now().Add(-30 * time.Second))
		s.do("confirm with a code",
			chromedp.SendKeys(chromedp.CSS(`input[name=totpCode]`), first),
			chromedp.Click(chromedp.CSS(`#twofactor-confirm`)),
			chromedp.WaitVisible(chromedp.CSS(`.recovery-codes code`)))
		recovery := eval[[]string](s, `[...document.querySelectorAll('.recovery-codes code')].map(e => e.textContent)`)
		if len(recovery) != 10 || secret == "" {
			t.Fatalf("recovery codes %v", recovery)
		}
		if strings.HasSuffix(t.Name(), "/sqlite") {
			s.shot("two-factor-recovery-codes")
		}
		s.do("done", chromedp.Click(chromedp.CSS(`#twofactor-done`)), chromedp.WaitVisible(chromedp.CSS(`#twofactor-off`)))
		s.signOutUI()

		s.do("password first", chromedp.Navigate(base+"/sign-in"), onPage("Sign in"),
			chromedp.SendKeys(chromedp.CSS(`input[name=email]`), email),
			chromedp.SendKeys(chromedp.CSS(`input[name=password]`), password),
			chromedp.Click(chromedp.CSS(`button[type=submit]`)),
			chromedp.WaitVisible(chromedp.CSS(`input[name=code]`)))
		if strings.HasSuffix(t.Name(), "/sqlite") {
			s.shot("sign-in-second-factor")
		}
		next := code(time.Now().Add(30 * time.Second))
		s.do("then the code",
			chromedp.SendKeys(chromedp.CSS(`input[name=code]`), next),
			chromedp.Click(chromedp.CSS(`button[type=submit]`)),
			chromedp.WaitVisible(chromedp.CSS(`.topbar`)))
		s.signOutUI()

		s.do("password again", chromedp.Navigate(base+"/sign-in"), onPage("Sign in"),
			chromedp.SendKeys(chromedp.CSS(`input[name=email]`), email),
			chromedp.SendKeys(chromedp.CSS(`input[name=password]`), password),
			chromedp.Click(chromedp.CSS(`button[type=submit]`)),
			chromedp.WaitVisible(chromedp.CSS(`input[name=code]`)))
		s.do("a recovery code instead",
			chromedp.Click(chromedp.CSS(`.fine-print button.link`)),
			chromedp.WaitVisible(chromedp.CSS(`input[name=recoveryCode]`)),
			chromedp.SendKeys(chromedp.CSS(`input[name=recoveryCode]`), recovery[0]),
			chromedp.Click(chromedp.CSS(`button[type=submit]`)),
			chromedp.WaitVisible(chromedp.CSS(`.topbar`)))
	})
}
