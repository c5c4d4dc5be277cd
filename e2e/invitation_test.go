package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/switchboard/switchboard/internal/db/dbtest"
)

// apiCall sends a JSON request to the node and decodes the envelope's data.
func (s *site) apiCall(method, path, token string, body any, want int, out any) {
	s.t.Helper()
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, s.node.URL+path, bytes.NewReader(raw))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	var env struct {
		Data  json.RawMessage
		Error any
	}
	_ = json.NewDecoder(res.Body).Decode(&env)
	if res.StatusCode != want {
		s.t.Fatalf("%s %s: %d %v", method, path, res.StatusCode, env.Error)
	}
	if out != nil {
		if err := json.Unmarshal(env.Data, out); err != nil {
			s.t.Fatalf("%s %s: %v", method, path, err)
		}
	}
}

// An invited person opens the mailed link, creates an account through it
// and lands in the dashboard with the organization in the workspace menu.
func TestBrowser_AcceptInvitationBySigningUp(t *testing.T) {
	dbtest.EachURL(t, func(t *testing.T, url string) {
		s := start(t, url)
		s.apiCall("POST", "/api/v1/auth/signup", "", map[string]string{"email": "owner@example.com", "password": "owner-password-1", "name": "Owner"}, 201, nil)
		var tok struct{ AccessToken string }
		s.apiCall("POST", "/api/v1/auth/login", "", map[string]string{"email": "owner@example.com", "password": "owner-password-1"}, 200, &tok)
		var org struct{ ID string }
		s.apiCall("POST", "/api/v1/orgs", tok.AccessToken, map[string]string{"name": "Acme"}, 201, &org)
		s.apiCall("POST", "/api/v1/orgs/"+org.ID+"/invitations", tok.AccessToken, map[string]string{"email": "bea@example.com", "orgRole": "ORG_MEMBER"}, 201, nil)

		link := s.mailedLink("bea@example.com", "You are invited", 1)
		if !strings.HasPrefix(link, s.node.URL+"/invitations/accept?token=") {
			t.Fatalf("invitation link %q", link)
		}
		s.do("open the invitation", chromedp.Navigate(link), onPage("Join an organization"),
			chromedp.SendKeys(chromedp.CSS(`input[name=name]`), "Bea"),
			chromedp.SendKeys(chromedp.CSS(`input[name=password]`), "bea-password-1"))
		if strings.HasSuffix(t.Name(), "/sqlite") {
			s.shot("accept-invitation")
		}
		hasAcme := until(`[...document.querySelectorAll('.workspace option')].some(o => o.textContent === 'Acme')`)
		s.do("join", chromedp.Click(chromedp.CSS(`button[type=submit]`)), chromedp.WaitVisible(chromedp.CSS(`.topbar`)), hasAcme)
		// Signed in through a cookie session: a reload keeps her signed in.
		s.do("reload", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(`.topbar`)), hasAcme)

		id, _ := json.Marshal(org.ID)
		s.do("switch to Acme", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.Evaluate[any](`(() => { const s = document.querySelector('.workspace select');
				s.value = `+string(id)+`; s.dispatchEvent(new Event('change')); return null })()`)(ctx, tg)
			return err
		}), chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.Poll[bool](`document.querySelector('.workspace select').value === `+string(id)+
				` && !document.querySelector('.workspace select').disabled && !document.querySelector('.credits').textContent.includes('…')`)(ctx, tg)
			return err
		}))
		if n := eval[int](s, `document.querySelectorAll('.error-box').length`); n != 0 {
			t.Fatalf("switching workspace failed: %s", s.html())
		}
		if strings.HasSuffix(t.Name(), "/sqlite") {
			s.shot("workspace-acme")
		}
	})
}
