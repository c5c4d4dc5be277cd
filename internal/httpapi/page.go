package httpapi

import (
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/ids"
)

// page is the shape of every list the API returns: items (never null) and
// the cursor of the next page, null on the last one.
type page[T any] struct {
	Items      []T     `json:"items"`
	NextCursor *string `json:"nextCursor"`
}

// writeWholePage answers a list that is small by nature (a fixed table, a
// user's organizations) in one page. Such a listing never hands out a
// cursor, so a request that brings one is refused like any cursor a
// listing did not produce, rather than answered with the first page again.
func writeWholePage[T any](w http.ResponseWriter, r *http.Request, items []T) error {
	if _, err := cursorParam(r, func(string) bool { return false }); err != nil {
		return err
	}
	if items == nil {
		items = []T{}
	}
	writeJSON(w, http.StatusOK, page[T]{Items: items})
	return nil
}

// order says how a keyset listing sorts its items by key, and which
// cursors are well-formed.
type order struct {
	cmp   func(a, b string) int
	valid func(cursor string) bool
}

// newestFirst orders by time-sortable id, descending.
func newestFirst(prefix string) order {
	return order{cmp: func(a, b string) int { return strings.Compare(b, a) }, valid: func(c string) bool { return ids.Valid(prefix, c) }}
}

// byNumberDesc orders by a positive whole number, descending.
var byNumberDesc = order{
	cmp: func(a, b string) int {
		x, _ := strconv.Atoi(a)
		y, _ := strconv.Atoi(b)
		return y - x
	},
	valid: func(c string) bool { n, err := strconv.Atoi(c); return err == nil && n > 0 && strconv.Itoa(n) == c },
}

// keyset pages a list with the limit and cursor query parameters. The
// cursor is the key of the previous page's last item and a page starts at
// the first item after it in the order, so a deleted or added item never
// shifts the pages. items is either the whole (bounded) list, or what a
// service read itself after the cursor with pageQuery's limit+1.
func keyset[T any](r *http.Request, items []T, key func(T) string, o order) (page[T], error) {
	limit, err := queryInt(r, "limit", 1, 200)
	if err != nil {
		return page[T]{}, err
	}
	if limit == 0 {
		limit = 50
	}
	cursor, err := cursorParam(r, o.valid)
	if err != nil {
		return page[T]{}, err
	}
	sorted := slices.Clone(items)
	slices.SortStableFunc(sorted, func(a, b T) int { return o.cmp(key(a), key(b)) })
	start := 0
	if cursor != "" {
		start = sort.Search(len(sorted), func(i int) bool { return o.cmp(key(sorted[i]), cursor) > 0 })
	}
	rest := sorted[start:]
	p := page[T]{Items: []T{}}
	if len(rest) > limit {
		rest = rest[:limit]
		next := key(rest[limit-1])
		p.NextCursor = &next
	}
	p.Items = append(p.Items, rest...)
	return p, nil
}

// cursorParam reads the cursor query parameter, refusing one that no page
// could have produced.
func cursorParam(r *http.Request, valid func(string) bool) (string, error) {
	c := r.URL.Query().Get("cursor")
	if c != "" && !valid(c) {
		return "", apperr.Invalid(apperr.FieldError{Field: "cursor", Message: "is not a cursor this listing returned; pass a page's nextCursor as is"})
	}
	return c, nil
}

// idCursor reads a cursor that is an id with the given prefix.
func idCursor(r *http.Request, prefix string) (string, error) {
	return cursorParam(r, func(c string) bool { return ids.Valid(prefix, c) })
}

// oldestFirst orders by time-sortable id, ascending.
func oldestFirst(prefix string) order {
	return order{cmp: strings.Compare, valid: func(c string) bool { return ids.Valid(prefix, c) }}
}

// byKey orders by a string key, ascending.
func byKey(valid func(string) bool) order { return order{cmp: strings.Compare, valid: valid} }

// pageQuery reads limit (default 50) and a well-formed cursor, for a
// service that reads the page itself: it asks for limit+1 items after the
// cursor, so keyset can tell whether another page follows.
func pageQuery(r *http.Request, o order) (cursor string, fetch int, err error) {
	limit, err := queryInt(r, "limit", 1, 200)
	if err != nil {
		return "", 0, err
	}
	if limit == 0 {
		limit = 50
	}
	cursor, err = cursorParam(r, o.valid)
	return cursor, limit + 1, err
}
