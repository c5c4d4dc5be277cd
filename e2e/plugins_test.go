package e2e

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/switchboard/switchboard/internal/db/dbtest"
	"github.com/switchboard/switchboard/internal/gateway/gatewaytest"
	"github.com/switchboard/switchboard/internal/plugin/wasm/wasmtest"
)

const pluginsBotToken = "123456789:AAFakeTelegramTokenForTests_abcdefgh"

// The plugin screens as a workspace owner who also publishes plugins:
// auto-reply is found in the catalog and installed through its schema
// form (a rule added to the rules list) on a Telegram gateway made
// through the API against the Telegram fake; a message sent through the
// fake shows up as a succeeded execution with its reply on the
// installation's page, and the reply is among the gateway's sends. An
// analytics installation draws the messages as charts. Then a wasm module
// is submitted with its manifest as files and shows pending; an admin
// rejects it through the API with a reason, which the developer then
// reads; a new version is submitted from the old one's manifest.
func TestBrowser_PluginsAndMarketplace(t *testing.T) {
	dbtest.EachURL(t, func(t *testing.T, url string) {
		const adminEmail, adminPassword = "root@example.com", "root-password-12345"
		const email, password = "dev@example.com", "dev-password-123"
		tg := gatewaytest.NewTelegram(t, pluginsBotToken)
		s := startEnv(t, url, map[string]string{
			"SWITCHBOARD_ADMIN_EMAIL": adminEmail, "SWITCHBOARD_ADMIN_PASSWORD": adminPassword,
			"SWITCHBOARD_TELEGRAM_API_URL": tg.URL, "SWITCHBOARD_OUTBOUND_ALLOW": tg.Host(),
		})
		first := strings.HasSuffix(t.Name(), "/sqlite")
		shot := func(name string) {
			if first {
				s.shot(name)
			}
		}
		type tokens struct {
			AccessToken string `json:"accessToken"`
		}
		var dev, admin tokens
		var user struct{ ID string }
		s.apiCall("POST", "/api/v1/auth/signup", "", map[string]string{"email": email, "password": password, "name": "Dana Dev"}, http.StatusCreated, &user)
		s.apiCall("POST", "/api/v1/auth/login", "", map[string]string{"email": adminEmail, "password": adminPassword}, http.StatusOK, &admin)
		s.apiCall("PATCH", "/api/v1/admin/users/"+user.ID, admin.AccessToken, map[string]string{"role": "DEVELOPER"}, http.StatusOK, nil)
		s.apiCall("POST", "/api/v1/auth/login", "", map[string]string{"email": email, "password": password}, http.StatusOK, &dev)

		// A Telegram gateway, connected to the fake (which records the
		// webhook and its secret).
		var g struct{ ID, InboundURL, Status string }
		s.apiCall("POST", "/api/v1/gateways", dev.AccessToken, map[string]any{"type": "TELEGRAM", "name": "Support bot",
			"credentials": map[string]string{"botToken": pluginsBotToken}}, http.StatusCreated, &g)
		s.apiCall("POST", "/api/v1/gateways/"+g.ID+"/connect", dev.AccessToken, nil, http.StatusOK, &g)
		if g.Status != "CONNECTED" {
			t.Fatalf("gateway after connect: %+v", g)
		}

		s.signInAs(email, password)
		s.do("find auto-reply in the catalog",
			chromedp.Click(chromedp.CSS(`.subnav a[href="/plugins"]`)), onPage("Plugins"),
			chromedp.WaitVisible(chromedp.CSS(`.plugin-card[data-plugin="analytics"]`)),
			chromedp.SendKeys(chromedp.CSS(`#plugin-q`), "reply"),
			chromedp.WaitNotPresent(chromedp.CSS(`.plugin-card[data-plugin="analytics"]`)),
			chromedp.WaitVisible(chromedp.CSS(`.plugin-card[data-plugin="auto-reply"]`)))
		if n := eval[int](s, `document.querySelectorAll('.plugin-card').length`); n < 1 || n > 3 {
			t.Errorf("searching 'reply' shows %d plugins", n)
		}
		s.do("clear the search", clearInput(`#plugin-q`), chromedp.WaitVisible(chromedp.CSS(`.plugin-card[data-plugin="analytics"]`)))

		// Without a rule the server refuses the config, and says why.
		s.do("install without rules",
			chromedp.Click(chromedp.CSS(`.plugin-card[data-plugin="auto-reply"] a`)), onPage("Auto-reply"),
			chromedp.WaitVisible(chromedp.CSS(`.install-form [data-field="rules"] .add-item`)),
			chromedp.Click(chromedp.CSS(`.install-form button[type=submit]`)),
			chromedp.WaitVisible(chromedp.CSS(`.install-form .config-error`)))
		if got := s.text(`.install-form .config-error`); !strings.Contains(got, "rules") {
			t.Errorf("the refused config reads %q", got)
		}
		s.do("fill auto-reply's form",
			chromedp.Click(chromedp.CSS(`.install-form [data-field="rules"] .add-item`)),
			chromedp.WaitVisible(chromedp.CSS(`input[name="config.rules.0.keyword"]`)),
			chromedp.SendKeys(chromedp.CSS(`input[name="config.rules.0.keyword"]`), "price"),
			chromedp.SendKeys(chromedp.CSS(`textarea[name="config.rules.0.reply"]`), "Plans start at 5 EUR, {{.name}}."),
			chromedp.Click(chromedp.CSS(`input[name=gatewayIds][value="`+g.ID+`"]`)))
		shot("plugin-install")
		if first {
			s.a11y("install form")
		}
		s.do("install it",
			chromedp.Click(chromedp.CSS(`.install-form button[type=submit]`)),
			chromedp.WaitVisible(chromedp.CSS(`table.executions`)),
			chromedp.WaitVisible(chromedp.CSS(`.badge.state.good`)))
		instURL := eval[string](s, `location.pathname`)
		if !strings.HasPrefix(instURL, "/installations/") {
			t.Fatalf("after installing the page is %s", instURL)
		}
		var inst struct {
			Config     json.RawMessage
			GatewayIDs []string
		}
		s.apiCall("GET", "/api/v1/installations/"+strings.TrimPrefix(instURL, "/installations/"), dev.AccessToken, nil, http.StatusOK, &inst)
		if !strings.Contains(string(inst.Config), `"keyword":"price"`) || len(inst.GatewayIDs) != 1 || inst.GatewayIDs[0] != g.ID {
			t.Fatalf("the form installed %s on %v", inst.Config, inst.GatewayIDs)
		}

		// Analytics on the same gateway, through the API: its charts are
		// drawn from the same messages.
		var an struct{ ID string }
		s.apiCall("POST", "/api/v1/installations", dev.AccessToken, map[string]any{"plugin": "analytics", "gatewayIds": []string{g.ID}}, http.StatusCreated, &an)

		// Messages through the fake: without a public https URL the gateway
		// receives by long polling, so the fake hands them to getUpdates.
		userIDs := map[string]int{"ann": 7, "bob": 8}
		deliver := func(chat int, user, text string) {
			tg.PushUpdate(map[string]any{"message": map[string]any{"message_id": len(text),
				"from": map[string]any{"id": userIDs[user], "username": user}, "chat": map[string]any{"id": chat, "type": "group"}, "text": text}})
		}
		deliver(555, "ann", "what's the price?")
		s.do("see the reply among the executions",
			until(`[...document.querySelectorAll('table.executions tr[data-status="SUCCEEDED"] .exec-output')].some((e) => e.textContent.includes('Plans start at 5 EUR, ann.'))`))
		deliver(555, "bob", "hello")
		deliver(777, "ann", "thanks")
		s.do("three executions", until(`document.querySelectorAll('table.executions tr[data-status="SUCCEEDED"]').length === 3`))
		shot("plugin-installation")
		if first {
			s.a11y("installation page")
		}

		// The reply went out through the gateway: its sends and the fake.
		var sends struct {
			Items []struct{ ChatID, Text, Status string }
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			s.apiCall("GET", "/api/v1/gateways/"+g.ID+"/sends", dev.AccessToken, nil, http.StatusOK, &sends)
			if len(sends.Items) > 0 && sends.Items[0].Status == "SENT" || time.Now().After(deadline) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if len(sends.Items) != 1 || sends.Items[0].Text != "Plans start at 5 EUR, ann." || sends.Items[0].ChatID != "555" {
			t.Errorf("the gateway's sends: %+v", sends.Items)
		}
		if sent := tg.Sent(); len(sent) != 1 || sent[0].Text != "Plans start at 5 EUR, ann." {
			t.Errorf("Telegram received %+v", sent)
		}
		// And the gateway's screen shows it among its sent messages.
		s.do("the reply on the gateway's screen", chromedp.Navigate(s.node.URL+"/gateways/"+g.ID),
			until(`[...document.querySelectorAll('table.sends tbody tr')].some((r) => r.textContent.includes('Plans start at 5 EUR, ann.') && r.querySelector('.badge')?.textContent === 'sent')`))
		s.do("back to the installation", chromedp.Navigate(s.node.URL+instURL), chromedp.WaitVisible(chromedp.CSS(`table.executions tr[data-status]`)))

		// Disable and enable from the page.
		s.do("disable", chromedp.Click(chromedp.CSS(`button.toggle`)), chromedp.WaitVisible(chromedp.CSS(`.badge.state:not(.good)`)))
		s.do("enable", chromedp.Click(chromedp.CSS(`button.toggle`)), chromedp.WaitVisible(chromedp.CSS(`.badge.state.good`)))

		s.do("the analytics charts",
			chromedp.Navigate(s.node.URL+"/installations/"+an.ID), onPage("Analytics"),
			until(`document.querySelector('.totals strong')?.textContent === '3'`),
			chromedp.WaitVisible(chromedp.CSS(`.hbars li`)))
		if got := eval[string](s, `[...document.querySelectorAll('.chart caption')].map((c) => c.textContent).join('|')`); got != "Messages per day (UTC)|Busiest chats|Most active people" {
			t.Errorf("the charts' tables are %q", got)
		}
		if got := eval[string](s, `[...document.querySelectorAll('.chart')][2].querySelector('tbody tr').textContent`); got != "@ann2" {
			t.Errorf("the busiest person reads %q, want @ann with 2 messages", got)
		}
		shot("plugin-analytics")
		if first {
			s.a11y("analytics charts")
			s.do("phone width, dark", chromedp.EmulateViewport(375, 740, chromedp.EmulateScale(2)), setScheme("dark"),
				chromedp.Navigate(s.node.URL+instURL), chromedp.WaitVisible(chromedp.CSS(`table.executions tr[data-status]`)))
			if eval[bool](s, `document.documentElement.scrollWidth > window.innerWidth`) {
				t.Error("the installation page scrolls sideways at 375 px")
			}
			s.shot("plugin-installation-375-dark")
			s.do("analytics at phone width", chromedp.Navigate(s.node.URL+"/installations/"+an.ID), chromedp.WaitVisible(chromedp.CSS(`.hbars li`)))
			if eval[bool](s, `document.documentElement.scrollWidth > window.innerWidth`) {
				t.Error("the analytics page scrolls sideways at 375 px")
			}
			s.shot("plugin-analytics-375-dark")
			s.do("desktop width", chromedp.EmulateViewport(1280, 800), setScheme("light"))
		}

		// The developer submits a module with its manifest, as files.
		dir := t.TempDir()
		module := wasmtest.Module(nil, wasmtest.Limits{Min: 1, Max: 1}, 0, nil)
		manifest := `{"slug": "echo-words", "name": "Echo words", "version": "1.0.0", "description": "Answers nothing, politely.", "canBeWorkflowStep": true}`
		for name, b := range map[string][]byte{"echo.wasm": module, "manifest.json": []byte(manifest)} {
			if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		s.do("submit a module",
			chromedp.Navigate(s.node.URL+"/plugins"), onPage("Plugins"),
			chromedp.Click(chromedp.CSS(`a[href="/developer/plugins"]`)), onPage("Publish a plugin"),
			chromedp.SetUploadFiles(chromedp.CSS(`#dev-manifest-file`), []string{filepath.Join(dir, "manifest.json")}),
			until(`document.querySelector('#dev-manifest').value.includes('echo-words')`),
			chromedp.SetUploadFiles(chromedp.CSS(`#dev-wasm`), []string{filepath.Join(dir, "echo.wasm")}),
			chromedp.Click(chromedp.CSS(`.submit-form button[type=submit]`)),
			chromedp.WaitVisible(chromedp.CSS(`tr[data-submission="echo-words@1.0.0"][data-status="PENDING"]`)))
		if got := s.text(`tr[data-submission="echo-words@1.0.0"] .review-status`); !strings.EqualFold(got, "pending review") {
			t.Errorf("the submission's review reads %q", got)
		}

		// An admin rejects it with a reason, through the API.
		var queue struct {
			Items []struct{ ID, Slug string }
		}
		s.apiCall("GET", "/api/v1/admin/marketplace/versions?status=PENDING", admin.AccessToken, nil, http.StatusOK, &queue)
		if len(queue.Items) != 1 || queue.Items[0].Slug != "echo-words" {
			t.Fatalf("review queue: %+v", queue.Items)
		}
		const reason = "Describe what the plugin does with the text it receives."
		s.apiCall("POST", "/api/v1/admin/marketplace/versions/"+queue.Items[0].ID+"/reject", admin.AccessToken, map[string]string{"reason": reason}, http.StatusOK, nil)

		s.do("see the reason", chromedp.Reload(),
			chromedp.WaitVisible(chromedp.CSS(`tr[data-submission="echo-words@1.0.0"][data-status="REJECTED"] .review-reason`)))
		if got := s.text(`tr[data-submission="echo-words@1.0.0"] .review-reason`); got != "Reason: "+reason {
			t.Errorf("the developer reads %q", got)
		}
		shot("plugin-developer")
		if first {
			s.a11y("developer submissions")
		}

		// A new version starts from the rejected one's manifest.
		s.do("publish 1.0.1",
			chromedp.Click(chromedp.CSS(`tr[data-submission="echo-words@1.0.0"] .new-version`)),
			until(`JSON.parse(document.querySelector('#dev-manifest').value).version === '1.0.1'`),
			chromedp.SetUploadFiles(chromedp.CSS(`#dev-wasm`), []string{filepath.Join(dir, "echo.wasm")}),
			chromedp.Click(chromedp.CSS(`.submit-form button[type=submit]`)),
			chromedp.WaitVisible(chromedp.CSS(`tr[data-submission="echo-words@1.0.1"][data-status="PENDING"]`)))

		// Approved and featured, it heads the catalog.
		s.apiCall("GET", "/api/v1/admin/marketplace/versions?status=PENDING", admin.AccessToken, nil, http.StatusOK, &queue)
		if len(queue.Items) != 1 {
			t.Fatalf("review queue: %+v", queue.Items)
		}
		s.apiCall("POST", "/api/v1/admin/marketplace/versions/"+queue.Items[0].ID+"/approve", admin.AccessToken, map[string]string{}, http.StatusOK, nil)
		s.apiCall("PUT", "/api/v1/admin/marketplace/plugins/echo-words/featured", admin.AccessToken, map[string]bool{"featured": true}, http.StatusOK, nil)
		s.do("the catalog features it",
			chromedp.Navigate(s.node.URL+"/plugins"), onPage("Plugins"),
			chromedp.WaitVisible(chromedp.CSS(`section[aria-labelledby="featured-h"] .plugin-card[data-plugin="echo-words"]`)))
		shot("plugins")
		if first {
			s.a11y("plugin catalog")
		}
	})
}
