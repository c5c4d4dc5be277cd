package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/idempotency"
)

// IdempotencyHeader names the request's idempotency key; ReplayedHeader
// marks an answer replayed from the first request with the key.
const (
	IdempotencyHeader = "Idempotency-Key"
	ReplayedHeader    = "Idempotent-Replayed"
)

type idemKeyCtx struct{}

// idempotencyKeyOf is the key the request was made under (header or body
// field), "" without one. Handlers pass it to the service so the key also
// reaches what the request creates (an execution's key, a send's key).
func idempotencyKeyOf(r *http.Request) string {
	k, _ := r.Context().Value(idemKeyCtx{}).(string)
	return k
}

// withIdempotency wraps a route that creates something (a run, an
// execution, a send, a charge) so that one key makes one of it: the first
// request with a key claims it and runs; concurrent ones wait for it; later
// ones get its stored answer with Idempotent-Replayed: true. A 5xx or 429
// answer releases the key (a retry may run); any other answer, 4xx
// included, is stored for the key's 24 hours, as Stripe does.
//
// The key comes from the Idempotency-Key header or, as an alias, from a
// top-level "idempotencyKey" string in the JSON body. Runs after
// authentication: the key is scoped to the actor's workspace and to the
// method and path.
func (s *Server) withIdempotency(next func(w http.ResponseWriter, r *http.Request) error) func(w http.ResponseWriter, r *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		if s.Idempotency == nil {
			return next(w, r)
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return apperr.New(apperr.PayloadTooLarge, "request body exceeds %d bytes", mbe.Limit)
			}
			return apperr.New(apperr.Validation, "cannot read request body")
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		key, err := requestKey(r, body)
		if err != nil {
			return err
		}
		if key == "" {
			return next(w, r)
		}
		key = idempotency.StoredKey(key)
		route := r.Method + " " + r.URL.Path
		a := actor.FromContext(r.Context())
		claim, prev, err := s.Idempotency.Begin(r.Context(), a.WorkspaceID(), route, key, idempotency.Hash(r.Method, r.URL.Path, canonicalJSON(body)))
		if err != nil {
			return err
		}
		if prev != nil {
			if prev.ContentType != "" {
				w.Header().Set("Content-Type", prev.ContentType)
			}
			w.Header().Set(ReplayedHeader, "true")
			w.WriteHeader(prev.Status)
			_, err := w.Write(prev.Body)
			return err
		}
		r = r.WithContext(context.WithValue(r.Context(), idemKeyCtx{}, key))
		rec := &bufferedResponse{header: http.Header{}}
		done := false
		defer func() {
			if !done { // the handler panicked: let a retry run
				if err := s.Idempotency.Release(r.Context(), claim); err != nil {
					s.Log.Error("release idempotency key", "requestId", requestIDFrom(r.Context()), "error", err)
				}
			}
		}()
		if err := next(rec, r); err != nil {
			s.writeError(rec, r, err)
		}
		done = true
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		if rec.status >= 500 || rec.status == http.StatusTooManyRequests {
			err = s.Idempotency.Release(r.Context(), claim)
		} else {
			err = s.Idempotency.Complete(r.Context(), claim, idempotency.Response{Status: rec.status,
				ContentType: rec.header.Get("Content-Type"), Body: rec.body.Bytes()})
		}
		if err != nil {
			// The work is done; a retry with this key may run it again,
			// which the services' own keys still de-duplicate.
			s.Log.Error("store idempotent answer", "requestId", requestIDFrom(r.Context()), "error", err)
		}
		for k, v := range rec.header {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.status)
		_, err = w.Write(rec.body.Bytes())
		return err
	}
}

// requestKey reads the key from the header or the body's idempotencyKey;
// both given must agree.
func requestKey(r *http.Request, body []byte) (string, error) {
	header := strings.TrimSpace(r.Header.Get(IdempotencyHeader))
	if _, ok := r.Header[http.CanonicalHeaderKey(IdempotencyHeader)]; ok {
		if err := idempotency.CheckKey(IdempotencyHeader, header); err != nil {
			return "", err
		}
	}
	var fields struct {
		IdempotencyKey *string `json:"idempotencyKey"`
	}
	if len(body) > 0 && json.Unmarshal(body, &fields) == nil && fields.IdempotencyKey != nil && *fields.IdempotencyKey != "" {
		k := *fields.IdempotencyKey
		if header != "" && header != k {
			return "", apperr.Invalid(apperr.FieldError{Field: "idempotencyKey",
				Message: "differs from the Idempotency-Key header; send one of them, or the same key in both"})
		}
		if header == "" {
			if err := idempotency.CheckKey("idempotencyKey", k); err != nil {
				return "", err
			}
			return k, nil
		}
	}
	return header, nil
}

// canonicalJSON re-encodes a JSON body with sorted keys and no spacing,
// so a retry that orders its fields differently is the same request. A
// body that is not JSON is compared byte for byte.
func canonicalJSON(body []byte) []byte {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return body
	}
	out, err := json.Marshal(v)
	if err != nil {
		return body
	}
	return out
}

// bufferedResponse holds a handler's answer until it is stored.
type bufferedResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedResponse) Header() http.Header { return b.header }

func (b *bufferedResponse) WriteHeader(status int) {
	if b.status == 0 {
		b.status = status
	}
}

func (b *bufferedResponse) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}
