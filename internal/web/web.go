// Package web serves the dashboard: the embedded single-page app, its
// hashed assets, and index.html for every app route, in front of the API.
package web

import (
	"bytes"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"

	dist "github.com/switchboard/switchboard/web"
)

// CSP is the app's Content-Security-Policy: scripts and styles only from
// this origin (no inline ones), API calls only to it, no framing.
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// Handler routes API, webhook and operations paths to api and serves the
// dashboard for everything else a browser may GET.
type Handler struct {
	api   http.Handler
	files fs.FS
	index []byte
	start time.Time
}

// New returns the dashboard in front of api, serving the embedded build.
func New(api http.Handler) (*Handler, error) {
	sub, err := fs.Sub(dist.Dist, "dist")
	if err != nil {
		return nil, err
	}
	return NewFS(api, sub)
}

// NewFS is New serving the build in files (a folder holding index.html).
func NewFS(api http.Handler, files fs.FS) (*Handler, error) {
	index, err := fs.ReadFile(files, "index.html")
	if err != nil {
		return nil, err
	}
	return &Handler{api: api, files: files, index: index, start: time.Now()}, nil
}

// apiPath reports whether p belongs to the API's side: everything under
// /api/ and /hooks/ (so unknown ones answer the API's JSON 404) and the
// operations endpoints.
func apiPath(p string) bool {
	switch p {
	case "/api", "/hooks", "/healthz", "/readyz", "/metrics":
		return true
	}
	return strings.HasPrefix(p, "/api/") || strings.HasPrefix(p, "/hooks/")
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if apiPath(path.Clean("/"+r.URL.Path)) || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
		h.api.ServeHTTP(w, r)
		return
	}
	hd := w.Header()
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Content-Security-Policy", CSP)
	hd.Set("Cross-Origin-Opener-Policy", "same-origin")
	hd.Set("Cross-Origin-Resource-Policy", "same-origin")

	name := strings.TrimPrefix(path.Clean(r.URL.Path), "/")
	if strings.HasPrefix(name, "assets/") {
		// Vite names every asset by its content's hash: it never changes.
		if h.serveFile(w, r, name, "public, max-age=31536000, immutable") {
			return
		}
		http.Error(w, "404 page not found", http.StatusNotFound)
		return
	}
	if name != "" && name != "index.html" && !strings.Contains(name, "/") && h.serveFile(w, r, name, "public, max-age=3600") {
		return // favicon.svg and the like
	}
	// Every other path is a route of the app: it draws it in the browser,
	// and shows its own "not found" page for unknown ones.
	hd.Set("Cache-Control", "no-cache")
	hd.Set("Content-Type", "text/html; charset=utf-8")
	http.ServeContent(w, r, "index.html", h.start, bytes.NewReader(h.index))
}

// serveFile serves a regular file of the build, if there is one.
func (h *Handler) serveFile(w http.ResponseWriter, r *http.Request, name, cache string) bool {
	f, err := h.files.Open(name)
	if err != nil {
		return false
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || st.IsDir() {
		return false
	}
	rs, ok := f.(interface {
		Read([]byte) (int, error)
		Seek(int64, int) (int64, error)
	})
	if !ok {
		return false
	}
	w.Header().Set("Cache-Control", cache)
	http.ServeContent(w, r, name, time.Time{}, rs)
	return true
}
