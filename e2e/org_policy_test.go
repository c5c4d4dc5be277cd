package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/db/dbtest"
)

// An owner turns on the organization's second-factor policy from its
// page. Their sign-in is older than five minutes, so the page asks them to
// confirm it is them inline and then saves without a second click.
// (What the policy does to members is tested at the API.)
func TestBrowser_OrganizationRequiresSecondFactor(t *testing.T) {
	dbtest.EachURL(t, func(t *testing.T, url string) {
		s := start(t, url)
		const email, password = "olga@example.com", "olga-password-1"
		s.apiCall("POST", "/api/v1/auth/signup", "", map[string]string{"email": email, "password": password, "name": "Olga"}, 201, nil)
		s.signInAs(email, password)

		// The owner sets up an authenticator app (through the API: the
		// enrollment screen has its own test) and creates the organization.
		var tok struct {
			AccessToken string `json:"accessToken"`
		}
		s.apiCall("POST", "/api/v1/auth/login", "", map[string]string{"email": email, "password": password}, 200, &tok)
		var enr struct {
			Secret string `json:"secret"`
		}
		s.apiCall("POST", "/api/v1/me/2fa/totp", tok.AccessToken, nil, 200, &enr)
		code, err := totp.GenerateCodeCustom(enr.Secret, time.Now(), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		if err != nil {
			t.Fatal(err)
		}
		s.apiCall("POST", "/api/v1/me/2fa/totp/confirm", tok.AccessToken, map[string]string{"code": code}, 200, nil)
		var org struct {
			ID string `json:"id"`
		}
		s.apiCall("POST", "/api/v1/orgs", tok.AccessToken, map[string]string{"name": "Strict Co"}, 201, &org)

		// Every session of the owner signed in more than five minutes ago.
		d := dbtest.Open(t, url)
		if err := d.Tx(context.Background(), func(tx *db.Tx) error {
			_, err := tx.ExecContext(context.Background(), `UPDATE sessions SET reauth_at = $1
				WHERE user_id = (SELECT id FROM users WHERE email = $2)`, time.Now().Add(-10*time.Minute).UTC(), email)
			return err
		}); err != nil {
			t.Fatal(err)
		}

		s.expect("status of 403") // the first save, refused until re-authentication
		s.do("the organization's page", chromedp.Navigate(s.node.URL+"/orgs/"+org.ID),
			chromedp.WaitVisible(chromedp.CSS(`#security-h`)),
			chromedp.Click(chromedp.CSS(`.policy-form input[name=require2fa]`)),
			chromedp.Click(chromedp.CSS(`.policy-form button[type=submit]`)),
			chromedp.WaitVisible(chromedp.CSS(`form.reauth input[name=reauthPassword]`)))
		if strings.HasSuffix(t.Name(), "/sqlite") {
			s.shot("org-security-reauth")
		}
		s.do("confirm it is me", chromedp.SendKeys(chromedp.CSS(`form.reauth input[name=reauthPassword]`), password),
			chromedp.Click(chromedp.CSS(`form.reauth button[type=submit]`)),
			until(`!!document.querySelector('#security-h ~ .success') && document.querySelector('#security-h ~ .success').textContent.includes('must now set one up')`))

		var got struct {
			Require2FA bool `json:"require2fa"`
		}
		s.apiCall("GET", "/api/v1/orgs/"+org.ID, tok.AccessToken, nil, 200, &got)
		if !got.Require2FA {
			t.Fatal("the policy is not on after the page said it saved")
		}
	})
}
