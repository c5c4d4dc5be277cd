package e2e

import (
	"context"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/switchboard/switchboard/internal/db/dbtest"
)

// Signing out in one tab signs out the others at once, and a new tab
// signs in through the shared cookie.
func TestBrowser_TabsShareTheSession(t *testing.T) {
	dbtest.EachURL(t, func(t *testing.T, url string) {
		s := start(t, url)
		base := s.node.URL
		s.signUp("tabs@example.com", "tabs-password-1", "Tabs")

		s.signInAs("tabs@example.com", "tabs-password-1")

		// A second tab of the same browser.
		tab, cancel := chromedp.NewContext(s.ctx)
		defer cancel()
		second := &site{t: t, node: s.node, ctx: tab, shots: s.shots}
		if err := chromedp.Do(tab); err != nil {
			t.Fatal(err)
		}
		second.do("open in a second tab", chromedp.Navigate(base+"/account"), chromedp.WaitVisible(chromedp.CSS(`#sessions-h`)))

		s.do("sign out in the first tab",
			chromedp.Click(chromedp.CSS(`.user-menu summary`)),
			chromedp.Click(chromedp.CSS(`.menu button`)),
			onPage("Sign in"))
		second.do("the second tab follows", onPage("Sign in"))
		ctx, stop := context.WithTimeout(tab, stepTimeout)
		defer stop()
		loc, err := chromedp.Run(ctx, chromedp.Location())
		if err != nil || loc == base+"/account" {
			t.Errorf("second tab at %q (%v)", loc, err)
		}
	})
}
