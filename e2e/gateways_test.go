package e2e

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/switchboard/switchboard/internal/db/dbtest"
	"github.com/switchboard/switchboard/internal/gateway/gatewaytest"
)

// A Telegram gateway added through the form against the repo's Bot API
// fake: the node has no public https URL, so the gateway receives by long
// polling, and its screen says so and why. A message pushed to the fake's
// getUpdates shows in the gateway's inbound events; a test send shows in
// its sends as sent (and reached the fake); rotating the inbound URL shows
// the new one once; disconnecting asks first. The screens pass axe-core
// (first engine only: they do not depend on it).
func TestBrowser_Gateways(t *testing.T) {
	dbtest.EachURL(t, func(t *testing.T, url string) {
		const token = "123456789:AAfakeTokenForTheDashboardTest_x"
		fake := gatewaytest.NewTelegram(t, token)
		s := startEnv(t, url, map[string]string{
			"SWITCHBOARD_TELEGRAM_API_URL": fake.URL,
			"SWITCHBOARD_OUTBOUND_ALLOW":   fake.Host(),
		})
		first := strings.HasSuffix(t.Name(), "/sqlite")
		s.signUp("gus@example.com", "gateway-password-1", "Gus")
		s.signInAs("gus@example.com", "gateway-password-1")

		// A wrong token shape is refused with the API's message beside its
		// field; the form keeps what was typed.
		s.do("open the form",
			chromedp.Click(chromedp.CSS(`.subnav a[href="/gateways"]`)), onPage("Gateways"),
			chromedp.WaitVisible(chromedp.CSS(`table.gateways`)),
			chromedp.Click(chromedp.CSS(`.page-head button.primary`)),
			chromedp.WaitVisible(chromedp.CSS(`.new-gateway input[name="credentials.botToken"]`)))
		if n := eval[int](s, `document.querySelectorAll('.new-gateway input[name^="credentials."]').length`); n != 1 {
			t.Errorf("a Telegram gateway asks for %d credentials, want 1 (the bot token)", n)
		}
		if got := eval[string](s, `document.querySelector('.new-gateway input[name="credentials.botToken"]').type`); got != "password" {
			t.Errorf("the bot token field is of type %q: secrets are write-only", got)
		}
		// Each type asks for its own fields: a signed webhook's secret is
		// generated in the page, to copy to the sender.
		s.do("look at the webhook type",
			chromedp.Click(chromedp.CSS(`.new-gateway input[name=type][value=WEBHOOK]`)),
			chromedp.WaitVisible(chromedp.CSS(`.new-gateway input[name="credentials.signingSecret"]`)),
			chromedp.Click(chromedp.CSS(`.new-gateway .copy-row button`)),
			until(`document.querySelector('.new-gateway input[name="credentials.signingSecret"]').value.startsWith('whsec_')`),
			chromedp.Click(chromedp.CSS(`.new-gateway input[name=type][value=TELEGRAM]`)),
			chromedp.WaitVisible(chromedp.CSS(`.new-gateway input[name="credentials.botToken"]`)))
		s.do("name it", chromedp.SendKeys(chromedp.CSS(`.new-gateway input[name=name]`), "Support bot"))
		if first {
			s.settledShot("gateway-new")
			s.a11y("new gateway form")
		}
		s.do("submit a bad token",
			chromedp.SendKeys(chromedp.CSS(`.new-gateway input[name="credentials.botToken"]`), "not-a-token"),
			chromedp.Click(chromedp.CSS(`.new-gateway button[type=submit]`)),
			chromedp.WaitVisible(chromedp.CSS(`.new-gateway .field.invalid .field-error`)))
		if got := s.text(`.new-gateway .field.invalid .field-error`); !strings.Contains(got, "@BotFather") {
			t.Errorf("the bad token shows %q, not the API's message", got)
		}
		s.do("fill the form",
			clearInput(`.new-gateway input[name="credentials.botToken"]`),
			chromedp.SendKeys(chromedp.CSS(`.new-gateway input[name="credentials.botToken"]`), token),
			chromedp.SendKeys(chromedp.CSS(`.new-gateway input[name="config.defaultChatId"]`), "555"))
		s.do("create and connect",
			chromedp.Click(chromedp.CSS(`.new-gateway button[type=submit]`)), onPage("Support bot"),
			until(`document.querySelector('.gw-status .badge.status')?.textContent === 'connected'`))
		if got := s.text(`.receive-mode`); got != "long polling" {
			t.Errorf("the gateway receives by %q, want long polling (no public https URL)", got)
		}
		if got := s.text(`.receive-why`); !strings.Contains(got, "no public https URL") {
			t.Errorf("the screen does not say why it polls: %q", got)
		}

		// An inbound message through the fake's getUpdates.
		fake.PushUpdate(map[string]any{"message": map[string]any{"message_id": 1,
			"from": map[string]any{"id": 7, "username": "ann"}, "chat": map[string]any{"id": 555, "type": "group"},
			"text": "hello from Telegram"}})
		s.do("see the inbound message",
			until(`[...document.querySelectorAll('table.events td.msg')].some((e) => e.textContent === 'hello from Telegram')`))
		if got := s.text(`table.events tbody tr`); !strings.Contains(got, "ann") || !strings.Contains(got, "message") {
			t.Errorf("the event row reads %q", got)
		}

		// The event filter asks the server for commands only: none yet.
		s.do("filter commands", pickOption(`#event-type`, "gateway.command"),
			until(`document.querySelector('table.events tbody')?.textContent.includes('No event of this kind.')`),
			pickOption(`#event-type`, ""),
			until(`document.querySelector('table.events td.msg')?.textContent === 'hello from Telegram'`))

		// A test send to the default chat: queued, then sent.
		s.do("test send",
			until(`document.querySelector('.test-send input[name=chatId]')?.value === '555'`),
			clearInput(`#test-text`),
			chromedp.SendKeys(chromedp.CSS(`#test-text`), "ping from the dashboard"),
			chromedp.Click(chromedp.CSS(`.test-send button[type=submit]`)),
			until(`[...document.querySelectorAll('table.sends tbody tr')].some((r) => r.textContent.includes('ping from the dashboard') && r.querySelector('.badge')?.textContent === 'sent')`))
		got := fake.Sent()
		if len(got) != 1 || got[0].ChatID != "555" || got[0].Text != "ping from the dashboard" {
			t.Errorf("the fake received %+v, want the test message to chat 555", got)
		}
		// The delivery filter asks the server for failed sends only.
		s.do("filter failed sends", pickOption(`#send-status`, "FAILED"),
			until(`document.querySelector('table.sends tbody')?.textContent.includes('No message with this delivery state.')`),
			pickOption(`#send-status`, ""),
			until(`document.querySelector('table.sends tbody .badge')?.textContent === 'sent'`))
		if first {
			s.settledShot("gateway")
			s.a11y("gateway screen")
		}

		// The inbound URL rotated: the new one is shown to copy.
		old := eval[string](s, `document.querySelector('#inbound-url').value`)
		s.do("rotate the inbound URL",
			chromedp.Click(chromedp.CSS(`.rotate-hook button.danger`)),
			chromedp.Click(chromedp.CSS(`.rotate-hook .confirm-yes`)),
			chromedp.WaitVisible(chromedp.CSS(`.new-hook .key`)))
		if nu := s.text(`.new-hook .key`); nu == old || !strings.Contains(nu, "/hooks/gateways/") {
			t.Errorf("the new inbound URL reads %q (old %q)", nu, old)
		}

		if first {
			s.do("phone width", chromedp.EmulateViewport(375, 740, chromedp.EmulateScale(2)), setScheme("dark"))
			if eval[bool](s, `document.documentElement.scrollWidth > window.innerWidth`) {
				t.Error("the gateway screen scrolls sideways at 375 px")
			}
			s.settledShot("gateway-375-dark")
			s.do("desktop width", chromedp.EmulateViewport(1280, 800), setScheme("light"))
		}

		// New credentials replace the old ones and the gateway connects
		// again with them.
		s.do("rotate credentials",
			chromedp.Click(chromedp.CSS(`section[aria-labelledby="creds-h"] > button`)),
			chromedp.WaitVisible(chromedp.CSS(`.rotate-creds input[name="credentials.botToken"]`)),
			chromedp.SendKeys(chromedp.CSS(`.rotate-creds input[name="credentials.botToken"]`), token),
			chromedp.Click(chromedp.CSS(`.rotate-creds button[type=submit]`)),
			chromedp.WaitVisible(chromedp.CSS(`section[aria-labelledby="creds-h"] .success`)),
			until(`document.querySelector('.gw-status .badge.status')?.textContent === 'connected'`))

		// Disconnect asks first.
		s.do("disconnect",
			until(`document.querySelector('.head-actions button.danger')?.disabled === false`),
			chromedp.Click(chromedp.CSS(`.head-actions button.danger`)),
			chromedp.WaitVisible(chromedp.CSS(`.head-actions .confirm-yes`)),
			chromedp.Click(chromedp.CSS(`.head-actions .confirm-yes`)),
			until(`document.querySelector('.gw-status .badge.status')?.textContent === 'disconnected'`))

		s.do("back to the list", chromedp.Click(chromedp.CSS(`.subnav a[href="/gateways"]`)), onPage("Gateways"),
			until(`document.querySelector('tr[data-gateway="Support bot"] .badge')?.textContent === 'disconnected'`))
		if first {
			s.settledShot("gateways")
			s.a11y("gateways list")
		}
	})
}

// settledShot takes a screenshot once the page has painted its latest
// changes (two animation frames), so a form just typed into is whole.
func (s *site) settledShot(name string) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(s.ctx, stepTimeout)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))`,
		chromedp.EvalAwaitPromise)); err != nil {
		s.t.Fatalf("wait for paint: %v", err)
	}
	s.shot(name)
}
