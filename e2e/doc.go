// Package e2e drives the dashboard in a real browser against the real
// binary: each test builds `switchboard serve`, starts it on a temporary
// data dir (SQLite, and PostgreSQL when SWITCHBOARD_TEST_DATABASE_URL is
// set), opens Debian's Chromium headless through the DevTools protocol
// (chromedp) and reads mailed links from the node's mail outbox
// (<data-dir>/mail/*.eml, what the binary writes when no SMTP server is
// configured).
//
// The tests skip, saying why, when there is no Chromium
// (SWITCHBOARD_CHROMIUM names another binary than /usr/bin/chromium),
// under -short, and under the race detector: a browser under a 2-core
// race run is too slow to tell anything, and the binary's own races are
// the other packages' business. CI runs them in its plain `go test ./...`
// step (SQLite) and once more in a step of their own on PostgreSQL.
//
// TestBrowser_Accessibility runs axe-core (a devDependency of web/, read
// from web/node_modules: run `cd web && npm ci` first, as CI does) on every
// screen in the light and the dark theme; a serious or critical violation
// fails it. BenchmarkDashboard measures loads and navigations in the
// browser (docs/benchmarks.md, "Dashboard").
//
// Set SWITCHBOARD_E2E_SCREENSHOTS to a folder (docs/screenshots in the
// repository) to keep the screenshots the tests take; otherwise they go to
// a temporary folder.
package e2e
