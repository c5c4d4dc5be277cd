package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/chromedp/chromedp"
)

// axe-core, the accessibility checker the browser tests run on every
// screen, comes from the dashboard's devDependencies (web/node_modules,
// installed by `cd web && npm ci`, which CI runs before the tests).
var (
	axeOnce   sync.Once
	axeSource string
	axeErr    error
)

func loadAxe() (string, error) {
	axeOnce.Do(func() {
		p := filepath.Join("..", "web", "node_modules", "axe-core", "axe.min.js")
		b, err := os.ReadFile(p)
		if err != nil {
			axeErr = fmt.Errorf("axe-core is missing (%v): run `cd web && npm ci` before the browser tests", err)
			return
		}
		axeSource = string(b)
	})
	return axeSource, axeErr
}

// axeViolation is one failed rule as axe.run reports it, trimmed to what
// a reader needs.
type axeViolation struct {
	ID      string `json:"id"`
	Impact  string `json:"impact"`
	Help    string `json:"help"`
	HelpURL string `json:"helpUrl"`
	Nodes   []struct {
		Target  []any  `json:"target"`
		Summary string `json:"summary"`
	} `json:"nodes"`
}

// axeRun runs axe-core on the current page and returns its serious and
// critical violations. The script goes in through the DevTools protocol
// (Runtime.evaluate), which the page's CSP (script-src 'self') does not
// govern; each document gets it once.
const axeRun = `(async () => {
	const r = await axe.run(document, { resultTypes: ['violations'] });
	return r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => ({
		id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
		nodes: v.nodes.map((n) => ({ target: n.target, summary: n.failureSummary })),
	}));
})()`

// a11y runs axe-core on the page as it is, in the light and the dark
// theme, and fails the test on any serious or critical violation, naming
// the rule, the elements and the help. The page's colour scheme is put
// back as it was.
func (s *site) a11y(screen string) {
	s.t.Helper()
	src, err := loadAxe()
	if err != nil {
		s.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(s.ctx, stepTimeout)
	defer cancel()
	run := func() ([]axeViolation, error) {
		loaded, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`typeof window.axe === 'object'`))
		if err != nil {
			return nil, err
		}
		if !loaded {
			if _, err := chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void](src)); err != nil {
				return nil, fmt.Errorf("inject axe-core: %w", err)
			}
		}
		return chromedp.Run(ctx, chromedp.Evaluate[[]axeViolation](axeRun, chromedp.EvalAwaitPromise))
	}
	dark, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`matchMedia('(prefers-color-scheme: dark)').matches`))
	if err != nil {
		s.t.Fatalf("axe on %s: %v", screen, err)
	}
	schemes := []string{"light", "dark"}
	if dark {
		schemes = []string{"dark", "light"}
	}
	var report []string
	for i, scheme := range schemes {
		if i > 0 {
			if _, err := chromedp.Run(ctx, setScheme(scheme)); err != nil {
				s.t.Fatalf("axe on %s: %v", screen, err)
			}
		}
		vs, err := run()
		if err != nil {
			s.t.Fatalf("axe on %s (%s): %v", screen, scheme, err)
		}
		for _, v := range vs {
			var b strings.Builder
			fmt.Fprintf(&b, "%s, %s theme: %s [%s] %s (%s)", screen, scheme, v.ID, v.Impact, v.Help, v.HelpURL)
			for _, n := range v.Nodes {
				fmt.Fprintf(&b, "\n\t%v: %s", n.Target, strings.ReplaceAll(n.Summary, "\n", " "))
			}
			report = append(report, b.String())
		}
	}
	if _, err := chromedp.Run(ctx, setScheme(schemes[0])); err != nil && !errors.Is(err, context.Canceled) {
		s.t.Fatalf("axe on %s: %v", screen, err)
	}
	for _, r := range report {
		s.t.Errorf("accessibility: %s", r)
	}
}

// expectProblem waits for a browser console error containing substr (a
// failed request the test caused on purpose) and takes every such error
// off the list of problems that fail the test.
func (s *site) expectProblem(substr string) {
	s.t.Helper()
	take := func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		kept, found := s.problems[:0], false
		for _, p := range s.problems {
			if strings.Contains(p, substr) {
				found = true
				continue
			}
			kept = append(kept, p)
		}
		s.problems = kept
		return found
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if take() {
			// Later copies of the same message arrive within moments.
			time.Sleep(300 * time.Millisecond)
			take()
			return
		}
	}
	s.t.Errorf("the browser did not report %q", substr)
}
