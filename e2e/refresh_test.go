package e2e

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/switchboard/switchboard/internal/db/dbtest"
)

// flakyRefresh makes every new document's first answers to POST
// /auth/refresh fail as a node being restarted behind a balancer fails
// them: a 503 in the error envelope, then no answer at all. Later calls
// reach the server, unless refuse is set: then each is refused with 401.
// window.refreshCalls counts them.
func flakyRefresh(refuse bool) chromedp.Action[chromedp.Void] {
	mode := "false"
	if refuse {
		mode = "true"
	}
	src := `(() => {
  const refuse = ` + mode + `;
  const real = window.fetch.bind(window);
  window.refreshCalls = 0;
  window.fetch = (input, init) => {
    const url = typeof input === 'string' ? input : input.url;
    if (!url.includes('/api/v1/auth/refresh')) return real(input, init);
    const n = ++window.refreshCalls;
    const envelope = (status, code, message) => new Response(
      JSON.stringify({ error: { code, message } }),
      { status, headers: { 'Content-Type': 'application/json' } });
    if (refuse) return Promise.resolve(envelope(401, 'UNAUTHORIZED', 'refresh token is invalid or expired'));
    if (n === 1) return Promise.resolve(envelope(503, 'UNAVAILABLE', 'the server is restarting'));
    if (n === 2) return Promise.reject(new TypeError('Failed to fetch'));
    return real(input, init);
  };
})();`
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, page.AddScriptToEvaluateOnNewDocument,
			page.AddScriptToEvaluateOnNewDocumentParams{Source: src})
		return err
	})
}

// A reload signs back in through the cookie even when the server cannot
// answer the first tries (a rolling restart, an overloaded node): the tab
// asks again rather than signing its user out. A refused refresh still
// signs out at once, without asking again.
func TestBrowser_RefreshRidesOutAnUnavailableServer(t *testing.T) {
	dbtest.EachURL(t, func(t *testing.T, url string) {
		s := start(t, url)
		base := s.node.URL
		s.signUp("restart@example.com", "restart-password-1", "Restart")
		s.signInAs("restart@example.com", "restart-password-1")

		s.do("reload while the server cannot answer", flakyRefresh(false), chromedp.Navigate(base+"/account"),
			// The page says why it waits rather than staying blank.
			until(`document.querySelector('.boot-status')?.textContent.includes('not answering yet')`))
		if strings.HasSuffix(t.Name(), "/sqlite") {
			s.shot("refresh-retrying")
		}
		s.do("signed back in", chromedp.WaitVisible(chromedp.CSS(`#sessions-h`)))
		if eval[bool](s, `document.querySelector('.boot-status') !== null`) {
			t.Error("the waiting message stays after signing back in")
		}
		if n := eval[int](s, `window.refreshCalls`); n != 3 {
			t.Errorf("%d refresh calls, want 3 (a 503, no answer, then the server's)", n)
		}
		if got := eval[string](s, `document.querySelector('.menu-email').textContent`); got != "restart@example.com" {
			t.Errorf("signed in as %q after the retries", got)
		}

		s.do("reload while the server refuses", flakyRefresh(true),
			chromedp.Navigate(base+"/account"), onPage("Sign in"))
		if n := eval[int](s, `window.refreshCalls`); n != 1 {
			t.Errorf("a refused refresh was asked %d times, want once", n)
		}
	})
}
