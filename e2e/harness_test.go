package e2e

import (
	"context"
	"encoding/json"
	"io"
	"mime/quotedprintable"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/switchboard/switchboard/internal/app/proctest"
)

var (
	buildOnce sync.Once
	binPath   string
	binDir    string
)

// chromiumPath returns the browser to drive, or skips tb (a browser test
// or benchmark: what names it in the skip message).
func chromiumPath(tb testing.TB, what string) string {
	tb.Helper()
	if raceEnabled {
		tb.Skipf("%s do not run under the race detector (see package doc)", what)
	}
	if testing.Short() {
		tb.Skipf("%s are skipped with -short", what)
	}
	p := os.Getenv("SWITCHBOARD_CHROMIUM")
	if p == "" {
		p = "/usr/bin/chromium"
	}
	if _, err := exec.LookPath(p); err != nil {
		tb.Skipf("no Chromium at %s (apt-get install -y chromium, or set SWITCHBOARD_CHROMIUM): %s skipped", p, what)
	}
	return p
}

// site is one running node and a browser pointed at it.
type site struct {
	t       *testing.T
	node    *proctest.Node
	dataDir string
	ctx     context.Context
	mu      sync.Mutex
	// problems are CSP violations, uncaught exceptions and console errors.
	problems []string
	shots    string
	// expected are console errors a test provokes on purpose (see expect).
	expected []string
}

// expect lets console errors containing text pass (a refusal the test
// asks for, such as a 429).
func (s *site) expect(text string) {
	s.mu.Lock()
	s.expected = append(s.expected, text)
	s.mu.Unlock()
}

// start builds the binary (once per test run), starts a node on dbURL and
// opens a headless Chromium with a fresh profile.
func start(t *testing.T, dbURL string) *site {
	t.Helper()
	return startEnv(t, dbURL, nil)
}

// startEnv is start with more settings for the node (such as the first
// admin's email and password).
func startEnv(t *testing.T, dbURL string, env map[string]string) *site {
	t.Helper()
	chrome := chromiumPath(t, "browser tests")
	buildOnce.Do(func() {
		// Built into a folder that outlives the first test: the binary is
		// shared by every test of the run.
		var err error
		if binDir, err = os.MkdirTemp("", "switchboard-e2e-"); err != nil {
			t.Fatal(err)
		}
		binPath = proctest.Build(&dirTB{T: t, dir: binDir})
	})
	if binPath == "" {
		t.Fatal("the switchboard binary did not build")
	}
	dataDir := t.TempDir()
	settings := map[string]string{
		"SWITCHBOARD_DATA_DIR": dataDir, "SWITCHBOARD_DATABASE_URL": dbURL,
		"SWITCHBOARD_LOG_LEVEL": "warn", "SWITCHBOARD_AUTH_RATE_LIMIT": "1000",
		// Tests set up more than a FREE plan's minute of API calls.
		"SWITCHBOARD_API_RATE_LIMIT_SCALE": "100",
	}
	for k, v := range env {
		settings[k] = v
	}
	node := proctest.Start(t, "e2e", binPath, settings)
	s := &site{t: t, node: node, dataDir: dataDir}
	s.shots = os.Getenv("SWITCHBOARD_E2E_SCREENSHOTS")
	if s.shots == "" {
		s.shots = t.TempDir()
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chrome),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 800),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancelCtx()
		cancelAlloc()
	})
	// The first run starts the browser; it must not carry a timeout.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	s.ctx = ctx
	// CSP violations, uncaught exceptions and console errors fail the test.
	msgs := chromedp.Console(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range msgs {
			if err != nil {
				return
			}
			if m.IsException() || m.Type == chromedp.ConsoleType("error") {
				// A refused sign-in or refresh is a failed request the
				// browser logs; it is expected.
				if strings.Contains(m.Text, "status of 401") || strings.Contains(m.Text, "status of 400") {
					continue
				}
				if !s.isExpected(m.Text) {
					s.problem(m.String())
				}
			}
		}
	}()
	t.Cleanup(func() {
		cancelCtx()
		<-done
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, p := range s.problems {
			t.Errorf("browser reported: %s", p)
		}
	})
	return s
}

func (s *site) isExpected(text string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.expected {
		if strings.Contains(text, e) {
			return true
		}
	}
	return false
}

func (s *site) problem(p string) {
	s.mu.Lock()
	s.problems = append(s.problems, p)
	s.mu.Unlock()
}

// stepTimeout bounds one group of browser steps; generous, as CI runs
// these beside the rest of the suite on two cores.
const stepTimeout = 90 * time.Second

// do runs browser steps and fails the test on error, showing the page.
func (s *site) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(s.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		s.t.Fatalf("%s: %v\npage: %s", what, err, s.html())
	}
}

// eval returns the value of a JavaScript expression in the page.
func eval[T any](s *site, expr string) T {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(s.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		s.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

func (s *site) html() string {
	ctx, cancel := context.WithTimeout(s.ctx, 5*time.Second)
	defer cancel()
	html, _ := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("body")))
	return html
}

// shot saves a full-page screenshot as name.png.
func (s *site) shot(name string) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(s.ctx, stepTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		s.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(s.shots, name+".png"), png, 0o644); err != nil {
		s.t.Fatal(err)
	}
}

// text waits for the first element matching the CSS selector and returns
// its text.
func (s *site) text(sel string) string {
	s.t.Helper()
	s.do("wait for "+sel, chromedp.WaitVisible(chromedp.CSS(sel)))
	ctx, cancel := context.WithTimeout(s.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		s.t.Fatalf("read %s: %v", sel, err)
	}
	return v
}

// setMedia emulates a prefers-color-scheme.
func setScheme(scheme string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}})
		return err
	})
}

var linkRE = regexp.MustCompile(`https?://[^\s"<>]+`)

// mailedLink waits for the n-th mail to `to` whose subject contains about
// and returns its first link to the site.
func (s *site) mailedLink(to, about string, n int) string {
	s.t.Helper()
	dir := filepath.Join(s.dataDir, "mail")
	deadline := time.Now().Add(60 * time.Second)
	for {
		var bodies []string
		entries, _ := os.ReadDir(dir)
		var names []string
		for _, e := range entries {
			if strings.HasSuffix(e.Name(), ".eml") {
				names = append(names, e.Name())
			}
		}
		sort.Strings(names)
		for _, name := range names {
			raw, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				continue
			}
			head, body, _ := strings.Cut(string(raw), "\r\n\r\n")
			if !strings.Contains(strings.ToLower(head), "\r\nto: "+strings.ToLower(to)) && !strings.HasPrefix(strings.ToLower(head), "to: "+strings.ToLower(to)) {
				continue
			}
			subject := ""
			for _, line := range strings.Split(head, "\r\n") {
				if v, ok := strings.CutPrefix(line, "Subject: "); ok {
					subject = v
				}
			}
			if !strings.Contains(strings.ToLower(subject), strings.ToLower(about)) {
				continue
			}
			dec, _ := io.ReadAll(quotedprintable.NewReader(strings.NewReader(body)))
			bodies = append(bodies, string(dec))
		}
		if len(bodies) >= n {
			for _, l := range linkRE.FindAllString(bodies[n-1], -1) {
				if strings.HasPrefix(l, s.node.URL+"/") {
					return l
				}
			}
			s.t.Fatalf("mail %q to %s has no link to %s:\n%s", about, to, s.node.URL, bodies[n-1])
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("no mail #%d about %q to %s in %s", n, about, to, dir)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// dirTB lets proctest.Build put the binary in a folder that outlives the
// test that first needed it.
type dirTB struct {
	*testing.T
	dir string
}

func (d *dirTB) TempDir() string { return d.dir }

// clearInput empties an input the way typing would, so the page's
// bindings see it.
func clearInput(sel string) chromedp.Action[chromedp.Void] {
	q, _ := json.Marshal(sel)
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Evaluate[any](`(() => { const e = document.querySelector(`+string(q)+`);
			e.value = ''; e.dispatchEvent(new Event('input', { bubbles: true })); return null })()`)(ctx, t)
		return err
	})
}

// onPage waits until the page's heading is title: links swap pages
// in place, and the old page's fields must not be mistaken for the new.
func onPage(title string) chromedp.Action[chromedp.Void] {
	q, _ := json.Marshal(title)
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Poll[bool](`document.querySelector('h1')?.textContent.trim() === `+string(q))(ctx, t)
		return err
	})
}

// until waits until a JavaScript expression is true in the page (the
// shell loads workspaces and credits after it draws).
func until(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Poll[bool](expr)(ctx, t)
		return err
	})
}

// clickUntil clicks sel until expr holds, a few times at most: on the
// studio's canvas a click that lands while the nodes are laid out again
// hits the pane, which selects nothing, and is the user's to repeat.
func clickUntil(sel, expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		var err error
		for range 4 {
			if _, err = chromedp.Click(chromedp.CSS(sel))(ctx, t); err != nil {
				return err
			}
			wait, cancel := context.WithTimeout(ctx, 3*time.Second)
			_, err = chromedp.Poll[bool](expr)(wait, t)
			cancel()
			if err == nil || ctx.Err() != nil {
				return err
			}
		}
		return err
	})
}
