// Package web serves the dashboard: the embedded single-page app, its
// hashed assets, and index.html for every app route, in front of the API.
package web

import (
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
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
	// gzipped holds each compressible file's gzip encoding, made on first
	// request: the build is fixed, so the map is bounded by its size.
	gzipped sync.Map // name → []byte (nil: not worth compressing)
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
	http.ServeContent(w, r, "index.html", h.start, h.encoded(w, r, "index.html", h.index))
}

// compressible lists the types worth gzipping; images other than SVG and
// fonts are compressed already.
var compressible = map[string]bool{".js": true, ".css": true, ".html": true, ".svg": true, ".json": true, ".map": true, ".txt": true}

// encoded returns the reader to serve for name with content body: its gzip
// encoding when the client takes gzip and it is smaller, else body itself.
// Either way the answer varies with Accept-Encoding.
func (h *Handler) encoded(w http.ResponseWriter, r *http.Request, name string, body []byte) io.ReadSeeker {
	if !compressible[path.Ext(name)] {
		return bytes.NewReader(body)
	}
	w.Header().Add("Vary", "Accept-Encoding")
	if !acceptsGzip(r.Header.Get("Accept-Encoding")) {
		return bytes.NewReader(body)
	}
	z, ok := h.gzipped.Load(name)
	if !ok {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		_, _ = zw.Write(body)
		_ = zw.Close()
		var enc []byte
		if buf.Len() < len(body) {
			enc = buf.Bytes()
		}
		z, _ = h.gzipped.LoadOrStore(name, enc)
	}
	enc := z.([]byte)
	if enc == nil {
		return bytes.NewReader(body)
	}
	w.Header().Set("Content-Encoding", "gzip")
	return bytes.NewReader(enc)
}

// acceptsGzip reports whether an Accept-Encoding header allows gzip: named
// (or "*") without q=0.
func acceptsGzip(header string) bool {
	for _, part := range strings.Split(header, ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		coding = strings.ToLower(strings.TrimSpace(coding))
		if coding != "gzip" && coding != "x-gzip" && coding != "*" {
			continue
		}
		q := 1.0
		for _, p := range strings.Split(params, ";") {
			if k, v, ok := strings.Cut(strings.TrimSpace(p), "="); ok && strings.EqualFold(strings.TrimSpace(k), "q") {
				if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
					q = f
				}
			}
		}
		return q > 0
	}
	return false
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
	body, err := io.ReadAll(f)
	if err != nil {
		return false
	}
	w.Header().Set("Cache-Control", cache)
	http.ServeContent(w, r, name, time.Time{}, h.encoded(w, r, name, body))
	return true
}
