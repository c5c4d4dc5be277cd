package web_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/switchboard/switchboard/internal/web"
	dist "github.com/switchboard/switchboard/web"
)

// fakeAPI answers like the API does: JSON, with its own headers.
var fakeAPI = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
	w.WriteHeader(http.StatusTeapot)
	_, _ = io.WriteString(w, `{"api":"`+r.Method+" "+r.URL.Path+`"}`)
})

func newHandler(t *testing.T) http.Handler {
	t.Helper()
	h, err := web.NewFS(fakeAPI, fstest.MapFS{
		"index.html":          {Data: []byte("<!doctype html><title>app</title>")},
		"favicon.svg":         {Data: []byte("<svg/>")},
		"assets/index-ab1.js": {Data: []byte("console.log(1)")},
	})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func get(h http.Handler, method, path string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	return rec
}

func TestAppRoutesServeIndex(t *testing.T) {
	t.Parallel()
	h := newHandler(t)
	for _, p := range []string{"/", "/sign-in", "/verify-email?token=x", "/reset-password?token=x", "/invitations/accept?token=x",
		"/confirm-email-change?token=x", "/revert-email-change?token=x", "/billing/success", "/billing/cancelled", "/account", "/no/such/page"} {
		for _, m := range []string{"GET", "HEAD"} {
			rec := get(h, m, p)
			if rec.Code != http.StatusOK {
				t.Errorf("%s %s: %d", m, p, rec.Code)
				continue
			}
			if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
				t.Errorf("%s %s: Content-Type %q", m, p, ct)
			}
			if cc := rec.Header().Get("Cache-Control"); cc != "no-cache" {
				t.Errorf("%s %s: Cache-Control %q", m, p, cc)
			}
			if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "style-src 'self'") ||
				!strings.Contains(csp, "default-src 'self'") || strings.Contains(csp, "unsafe") {
				t.Errorf("%s %s: CSP %q", m, p, csp)
			}
			for _, hd := range []string{"X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy"} {
				if rec.Header().Get(hd) == "" {
					t.Errorf("%s %s: no %s", m, p, hd)
				}
			}
			if m == "GET" && !strings.Contains(rec.Body.String(), "<title>app</title>") {
				t.Errorf("GET %s: body %q", p, rec.Body.String())
			}
		}
	}
}

func TestAPIPathsReachTheAPI(t *testing.T) {
	t.Parallel()
	h := newHandler(t)
	for _, p := range []string{"/api/v1/me", "/api/v1/no-such-route", "/api", "/hooks/gateways/x/y", "/healthz", "/readyz", "/metrics"} {
		rec := get(h, "GET", p)
		if rec.Code != http.StatusTeapot || !strings.Contains(rec.Body.String(), `"api"`) {
			t.Errorf("GET %s: %d %s", p, rec.Code, rec.Body.String())
		}
		if csp := rec.Header().Get("Content-Security-Policy"); csp != "default-src 'none'; frame-ancestors 'none'" {
			t.Errorf("GET %s: the API's CSP was replaced: %q", p, csp)
		}
	}
	// Other methods on app paths are the API's to refuse.
	if rec := get(h, "POST", "/sign-in"); rec.Code != http.StatusTeapot {
		t.Errorf("POST /sign-in: %d", rec.Code)
	}
}

func TestAssetsCaching(t *testing.T) {
	t.Parallel()
	h := newHandler(t)
	rec := get(h, "GET", "/assets/index-ab1.js")
	if rec.Code != http.StatusOK || rec.Body.String() != "console.log(1)" {
		t.Fatalf("asset: %d %q", rec.Code, rec.Body.String())
	}
	if cc := rec.Header().Get("Cache-Control"); cc != "public, max-age=31536000, immutable" {
		t.Errorf("asset Cache-Control %q", cc)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/javascript") {
		t.Errorf("asset Content-Type %q", ct)
	}
	// A missing asset is a 404, not the app: a stale chunk must fail loudly.
	if rec := get(h, "GET", "/assets/gone-123.js"); rec.Code != http.StatusNotFound {
		t.Errorf("missing asset: %d", rec.Code)
	}
	if rec := get(h, "GET", "/favicon.svg"); rec.Code != http.StatusOK || rec.Header().Get("Cache-Control") == "public, max-age=31536000, immutable" {
		t.Errorf("favicon: %d %q", rec.Code, rec.Header().Get("Cache-Control"))
	}
}

// The committed build must obey the CSP: no inline scripts or styles.
func TestEmbeddedBuildHasNoInlineCode(t *testing.T) {
	t.Parallel()
	index, err := fs.ReadFile(dist.Dist, "dist/index.html")
	if err != nil {
		t.Fatalf("the build is not embedded: %v (run npm run build in web/)", err)
	}
	html := string(index)
	if regexp.MustCompile(`<script(?:\s[^>]*)?>\s*[^<\s]`).MatchString(html) {
		t.Errorf("index.html has an inline script:\n%s", html)
	}
	if strings.Contains(html, "<style") || strings.Contains(html, "style=") {
		t.Errorf("index.html has inline styles:\n%s", html)
	}
	if !regexp.MustCompile(`<script type="module" crossorigin src="/assets/index-[\w-]+\.js">`).MatchString(html) {
		t.Errorf("index.html does not load a hashed entry script:\n%s", html)
	}
	var js int
	err = fs.WalkDir(dist.Dist, "dist/assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasSuffix(p, ".js") {
			js++
		}
		return nil
	})
	if err != nil || js < 2 {
		t.Errorf("assets: %d scripts, %v (pages must be separate chunks)", js, err)
	}
	h, err := web.New(fakeAPI)
	if err != nil {
		t.Fatal(err)
	}
	if rec := get(h, "GET", "/verify-email?token=x"); rec.Code != http.StatusOK || rec.Body.String() != html {
		t.Errorf("embedded index: %d", rec.Code)
	}
}

// The first load stays within the dashboard's budget: 150 KB of gzipped
// JavaScript for the entry script and what index.html preloads; pages are
// separate chunks loaded when visited.
func TestEmbeddedBuildFirstLoadBudget(t *testing.T) {
	t.Parallel()
	index, err := fs.ReadFile(dist.Dist, "dist/index.html")
	if err != nil {
		t.Fatal(err)
	}
	scripts := regexp.MustCompile(`(?:src|href)="/(assets/[\w.-]+\.js)"`).FindAllStringSubmatch(string(index), -1)
	if len(scripts) == 0 {
		t.Fatalf("no scripts in index.html:\n%s", index)
	}
	total := 0
	for _, m := range scripts {
		raw, err := fs.ReadFile(dist.Dist, "dist/"+m[1])
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		_, _ = zw.Write(raw)
		_ = zw.Close()
		total += buf.Len()
	}
	if total > 150<<10 {
		t.Errorf("first load is %d bytes of gzipped JavaScript, over 150 KB", total)
	}
	t.Logf("first load: %d bytes of gzipped JavaScript in %d files", total, len(scripts))
}

// A browser that takes gzip gets compressible files gzipped (and every
// answer says it varies with Accept-Encoding); one that does not, or
// refuses it with q=0, gets them as they are, and so does a file gzip
// would not make smaller.
func TestAssetsGzip(t *testing.T) {
	t.Parallel()
	js := strings.Repeat("export const answer = 42;\n", 200)
	h, err := web.NewFS(fakeAPI, fstest.MapFS{
		"index.html":          {Data: []byte("<!doctype html><title>app</title>" + strings.Repeat("<!-- padding -->", 50))},
		"favicon.svg":         {Data: []byte("<svg/>")},
		"assets/index-ab1.js": {Data: []byte(js)},
	})
	if err != nil {
		t.Fatal(err)
	}
	fetch := func(path, accept string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("GET", path, nil)
		if accept != "" {
			req.Header.Set("Accept-Encoding", accept)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	for _, accept := range []string{"gzip, deflate, br", "br;q=1.0, gzip;q=0.8", "*"} {
		rec := fetch("/assets/index-ab1.js", accept)
		if rec.Header().Get("Content-Encoding") != "gzip" || !strings.Contains(rec.Header().Get("Vary"), "Accept-Encoding") {
			t.Fatalf("Accept-Encoding %q: headers %v", accept, rec.Header())
		}
		zr, err := gzip.NewReader(rec.Body)
		if err != nil {
			t.Fatal(err)
		}
		plain, err := io.ReadAll(zr)
		if err != nil || string(plain) != js {
			t.Fatalf("Accept-Encoding %q: the gzipped asset does not decode to the file (%v)", accept, err)
		}
		if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/javascript") {
			t.Errorf("gzipped asset Content-Type %q", ct)
		}
	}
	for _, accept := range []string{"", "identity", "gzip;q=0, br", "deflate"} {
		rec := fetch("/assets/index-ab1.js", accept)
		if rec.Header().Get("Content-Encoding") != "" || rec.Body.String() != js {
			t.Errorf("Accept-Encoding %q: Content-Encoding %q, %d bytes", accept, rec.Header().Get("Content-Encoding"), rec.Body.Len())
		}
		if !strings.Contains(rec.Header().Get("Vary"), "Accept-Encoding") {
			t.Errorf("Accept-Encoding %q: no Vary", accept)
		}
	}
	if rec := fetch("/sign-in", "gzip"); rec.Header().Get("Content-Encoding") != "gzip" {
		t.Errorf("app route: Content-Encoding %q", rec.Header().Get("Content-Encoding"))
	}
	if rec := fetch("/favicon.svg", "gzip"); rec.Header().Get("Content-Encoding") != "" || rec.Body.String() != "<svg/>" {
		t.Errorf("a file gzip would grow: Content-Encoding %q, body %q", rec.Header().Get("Content-Encoding"), rec.Body.String())
	}
}
