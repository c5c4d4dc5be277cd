package httpapi

import (
	"bytes"
	"mime"
	"net/http"
	"net/url"
	"unicode/utf8"

	"github.com/switchboard/switchboard/internal/apperr"
)

// Every string the API accepts is stored as text, and PostgreSQL's text
// refuses NUL and bytes that are not UTF-8 while SQLite keeps them. So the
// API refuses both at the door, the same way on either engine: in the path,
// in query names and values (rejectHostileBytes), in JSON bodies (decode)
// and in the raw bodies of inbound webhooks (checkRawBody). A client learns
// only that its own input was malformed.

// validText reports whether s is UTF-8 without NUL.
func validText(s string) bool {
	return utf8.ValidString(s) && !containsNUL(s)
}

func containsNUL(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			return true
		}
	}
	return false
}

// rejectHostileBytes answers 400 for a request whose decoded path, query
// names or query values hold NUL or invalid UTF-8, before any route sees it.
func (s *Server) rejectHostileBytes(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !validText(r.URL.Path) {
			s.writeError(w, r, apperr.Invalid(apperr.FieldError{Field: "path", Message: "must be UTF-8 text without NUL characters"}))
			return
		}
		for name, vals := range r.URL.Query() {
			ok := validText(name)
			for _, v := range vals {
				ok = ok && validText(v)
			}
			if !ok {
				field := "query"
				if validText(name) {
					field = name
				}
				s.writeError(w, r, apperr.Invalid(apperr.FieldError{Field: field, Message: "must be UTF-8 text without NUL characters"}))
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// errHostileBody is the answer to a body that is not UTF-8 text without NUL.
func errHostileBody() error {
	return apperr.Invalid(apperr.FieldError{Field: "body", Message: "must be UTF-8 text without NUL characters (raw or escaped as \\u0000)"})
}

// checkBodyText refuses a body that is not UTF-8 or that holds a NUL, raw
// or escaped as \u0000 inside a JSON string. encoding/json would otherwise
// turn invalid bytes into U+FFFD without a word and hand \u0000 on as a NUL.
// It looks only at strings; the decoder judges the rest of the syntax.
func checkBodyText(body []byte) error {
	if !utf8.Valid(body) || bytes.IndexByte(body, 0) >= 0 || hasEscapedNUL(body) {
		return errHostileBody()
	}
	return nil
}

// hasEscapedNUL reports whether a JSON text holds the escape \u0000 inside a
// string (and not, say, an escaped backslash followed by "u0000").
func hasEscapedNUL(body []byte) bool {
	if !bytes.Contains(body, []byte(`\u0000`)) {
		return false
	}
	inString := false
	for i := 0; i < len(body); i++ {
		c := body[i]
		if !inString {
			if c == '"' {
				inString = true
			}
			continue
		}
		switch c {
		case '"':
			inString = false
		case '\\':
			if i+5 < len(body) && body[i+1] == 'u' && string(body[i+2:i+6]) == "0000" {
				return true
			}
			i++ // skip the escaped character
		}
	}
	return false
}

// checkRawBody refuses the raw body of an inbound webhook that is not UTF-8
// text without NUL (see checkBodyText), also when a form body percent-encodes
// such bytes. It runs before the hook is looked up or its signature
// checked, so the answer depends only on the request's own bytes.
func checkRawBody(r *http.Request, body []byte) error {
	if err := checkBodyText(body); err != nil {
		return err
	}
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct == "application/x-www-form-urlencoded" {
		vals, err := url.ParseQuery(string(body))
		if err != nil {
			return nil // the route reports a malformed form its own way
		}
		for name, vs := range vals {
			if !validText(name) {
				return errHostileBody()
			}
			for _, v := range vs {
				if !validText(v) {
					return errHostileBody()
				}
			}
		}
	}
	return nil
}
