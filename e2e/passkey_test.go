package e2e

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/switchboard/switchboard/internal/db/dbtest"
)

// virtualAuthenticator gives the page a platform authenticator through
// the DevTools WebAuthn domain: CTAP2, built in, holding resident keys,
// verifying the user at once (as a fingerprint would). It returns the
// authenticator's id.
func (s *site) virtualAuthenticator() webauthn.AuthenticatorID {
	s.t.Helper()
	var id webauthn.AuthenticatorID
	s.do("add a virtual authenticator", chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		if _, err := cdp.Call(ctx, t, webauthn.Enable, webauthn.EnableParams{}); err != nil {
			return err
		}
		res, err := cdp.Call(ctx, t, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
			Options: &webauthn.VirtualAuthenticatorOptions{Protocol: webauthn.AuthenticatorProtocolCtap2,
				Transport: webauthn.AuthenticatorTransportInternal, HasResidentKey: true, HasUserVerification: true,
				IsUserVerified: true, AutomaticPresenceSimulation: true}})
		id = res.AuthenticatorID
		return err
	}))
	return id
}

// credentials lists what the virtual authenticator holds.
func (s *site) credentials(id webauthn.AuthenticatorID) []*webauthn.Credential {
	s.t.Helper()
	var out []*webauthn.Credential
	s.do("read the authenticator", chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		res, err := cdp.Call(ctx, t, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: id})
		out = res.Credentials
		return err
	}))
	return out
}

// A person adds a passkey on the Account page, signs out, and signs back
// in with it from the sign-in page without typing an email or a password.
// Browsers refuse an IP address as a relying party id, so the page is
// opened at localhost, the relying party id the node is given.
func TestBrowser_PasskeyRegisterAndSignInWithoutPassword(t *testing.T) {
	dbtest.EachURL(t, func(t *testing.T, url string) {
		s := startEnv(t, url, map[string]string{"SWITCHBOARD_WEBAUTHN_RP_ID": "localhost"})
		base := strings.Replace(s.node.URL, "://127.0.0.1:", "://localhost:", 1)
		shot := func(name string) {
			if strings.HasSuffix(t.Name(), "/sqlite") {
				s.shot(name)
			}
		}
		const email, password = "pia@example.com", "pia-password-1"
		s.apiCall("POST", "/api/v1/auth/signup", "", map[string]string{"email": email, "password": password, "name": "Pia"}, 201, nil)
		auth := s.virtualAuthenticator()

		s.do("sign in with the password", chromedp.Navigate(base+"/sign-in"), onPage("Sign in"),
			chromedp.SendKeys(chromedp.CSS(`input[name=email]`), email),
			chromedp.SendKeys(chromedp.CSS(`input[name=password]`), password),
			chromedp.Click(chromedp.CSS(`button[type=submit]`)),
			chromedp.WaitVisible(chromedp.CSS(`.topbar`)))
		s.do("open the account page", chromedp.Navigate(base+"/account"), chromedp.WaitVisible(chromedp.CSS(`#passkeys-h`)),
			until(`document.querySelector('.passkeys li')?.textContent.includes('No passkeys yet')`))
		s.do("add a passkey",
			chromedp.SendKeys(chromedp.CSS(`input[name=passkeyName]`), "Work laptop"),
			chromedp.Click(chromedp.CSS(`#passkeys-h ~ form button[type=submit]`)),
			until(`document.querySelector('.passkeys .passkey-name')?.textContent === 'Work laptop'`))
		if got := s.text(`#passkeys-h ~ .success`); !strings.Contains(got, "Work laptop") {
			t.Errorf("after adding: %q", got)
		}
		creds := s.credentials(auth)
		if len(creds) != 1 || !creds[0].IsResidentCredential || creds[0].RpID != "localhost" {
			t.Fatalf("authenticator holds %+v", creds)
		}
		shot("account-passkeys")

		s.do("sign out", chromedp.Click(chromedp.CSS(`.user-menu summary`)), chromedp.Click(chromedp.CSS(`.menu button`)), onPage("Sign in"))
		s.do("wait for the passkey button", chromedp.WaitVisible(chromedp.CSS(`button.passkey-signin`)))
		shot("sign-in-passkey")
		s.do("sign in with the passkey", chromedp.Click(chromedp.CSS(`button.passkey-signin`)), chromedp.WaitVisible(chromedp.CSS(`.topbar`)))
		if got := eval[string](s, `location.pathname`); got != "/" {
			t.Errorf("after the passkey sign-in the page is %q", got)
		}
		// A cookie session like a password sign-in's: a reload stays in.
		s.do("reload", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(`.topbar`)))
		s.do("open the account page again", chromedp.Navigate(base+"/account"),
			until(`document.querySelector('.passkeys li p')?.textContent.includes('last used') && !document.querySelector('.passkeys li p').textContent.includes('—')`))
		if c := s.credentials(auth); len(c) != 1 || c[0].SignCount < 2 {
			t.Errorf("authenticator after sign-in: %+v", c)
		}

		// Rename, then delete; the list follows.
		s.do("rename", chromedp.Click(chromedp.CSS(`.passkeys li button`)), chromedp.WaitVisible(chromedp.CSS(`input[name=rename]`)),
			clearInput(`input[name=rename]`), chromedp.SendKeys(chromedp.CSS(`input[name=rename]`), "Old laptop"),
			chromedp.Click(chromedp.CSS(`.rename-form button[type=submit]`)),
			until(`document.querySelector('.passkeys .passkey-name')?.textContent === 'Old laptop'`))
		s.do("delete", chromedp.Click(chromedp.CSS(`.passkeys li button.danger`)), chromedp.Click(chromedp.CSS(`.passkeys .confirm-yes`)),
			until(`document.querySelector('.passkeys li')?.textContent.includes('No passkeys yet')`))
	})
}

// With a passkey, the password alone no longer signs in: the second step
// offers the passkey (and no code field, as the account has no TOTP).
func TestBrowser_PasswordThenPasskeySignIn(t *testing.T) {
	dbtest.EachURL(t, func(t *testing.T, url string) {
		s := startEnv(t, url, map[string]string{"SWITCHBOARD_WEBAUTHN_RP_ID": "localhost"})
		base := strings.Replace(s.node.URL, "://127.0.0.1:", "://localhost:", 1)
		const email, password = "pat@example.com", "pat-password-1"
		s.apiCall("POST", "/api/v1/auth/signup", "", map[string]string{"email": email, "password": password, "name": "Pat"}, 201, nil)
		auth := s.virtualAuthenticator()
		signInWithPassword := func(then chromedp.Action[chromedp.Void]) []chromedp.Action[chromedp.Void] {
			return []chromedp.Action[chromedp.Void]{chromedp.Navigate(base + "/sign-in"), onPage("Sign in"),
				chromedp.SendKeys(chromedp.CSS(`input[name=email]`), email),
				chromedp.SendKeys(chromedp.CSS(`input[name=password]`), password),
				chromedp.Click(chromedp.CSS(`button[type=submit]`)), then}
		}
		s.do("sign in with the password", signInWithPassword(chromedp.WaitVisible(chromedp.CSS(`.topbar`)))...)
		s.do("add a passkey", chromedp.Navigate(base+"/account"), chromedp.WaitVisible(chromedp.CSS(`#passkeys-h`)),
			chromedp.SendKeys(chromedp.CSS(`input[name=passkeyName]`), "Laptop"),
			chromedp.Click(chromedp.CSS(`#passkeys-h ~ form button[type=submit]`)),
			until(`document.querySelector('.passkeys .passkey-name')?.textContent === 'Laptop'`))
		s.do("sign out", chromedp.Click(chromedp.CSS(`.user-menu summary`)), chromedp.Click(chromedp.CSS(`.menu button`)), onPage("Sign in"))

		s.do("the password asks for the passkey", signInWithPassword(
			until(`document.querySelector('button.passkey-signin')?.textContent.trim() === 'Use a passkey'`))...)
		if n := eval[int](s, `document.querySelectorAll('input[name=code]').length`); n != 0 {
			t.Errorf("a code field is offered to an account without TOTP")
		}
		if strings.HasSuffix(t.Name(), "/sqlite") {
			s.shot("sign-in-second-step-passkey")
		}
		s.do("use the passkey", chromedp.Click(chromedp.CSS(`button.passkey-signin`)), chromedp.WaitVisible(chromedp.CSS(`.topbar`)))
		s.do("reload", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(`.topbar`)))
		if c := s.credentials(auth); len(c) != 1 || c[0].SignCount < 1 {
			t.Errorf("authenticator after sign-in: %+v", c)
		}
	})
}
