package httpapi

import (
	"encoding/csv"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/audit"
)

// auditExportParams are the list's filters plus the format; limit does
// not apply (every matching row is written) and cursor starts the export
// where a listing page ended.
var auditExportParams = append([]param{
	{"format", "csv (default) or ndjson: one audit row a line, newest first, every matching row."},
}, auditParams...)

var auditExportDoc = routeDoc{produces: []string{"text/csv", "application/x-ndjson"}}

// auditLister reads one page of the export's rows, checking the caller's
// right to them on every call.
type auditLister func(f audit.Filter) (audit.Page, error)

// exportPage is the page size of an export: the list's largest, each page
// one bounded statement.
const exportPage = 200

// writeAuditExport streams every row list returns for f, page by page, as
// it reads them: nothing beyond one page is held in memory. The first page
// is read before any header is sent, so a refused or invalid request gets
// the JSON error envelope.
func (s *Server) writeAuditExport(w http.ResponseWriter, r *http.Request, name string, f audit.Filter, list auditLister) error {
	format := r.URL.Query().Get("format")
	switch format {
	case "":
		format = "csv"
	case "csv", "ndjson":
	default:
		return apperr.Invalid(apperr.FieldError{Field: "format", Message: "must be csv or ndjson"})
	}
	f.Limit = exportPage
	page, err := list(f)
	if err != nil {
		return err
	}
	file := name + "-" + time.Now().UTC().Format("20060102")
	var write func(audit.Row) error
	var flush func()
	if format == "csv" {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="`+file+`.csv"`)
		cw := csv.NewWriter(w)
		_ = cw.Write([]string{"id", "seq", "createdAt", "userId", "organizationId", "impersonatorId", "action",
			"resource", "resourceId", "status", "ipAddress", "userAgent", "requestId", "metadata"})
		write = func(e audit.Row) error {
			return cw.Write([]string{e.ID, strconv.FormatInt(e.Seq, 10), e.CreatedAt.Format(time.RFC3339Nano),
				e.UserID, e.OrganizationID, e.ImpersonatorID, csvCell(e.Action), csvCell(e.Resource), csvCell(e.ResourceID),
				e.Status, csvCell(e.IPAddress), csvCell(e.UserAgent), csvCell(e.RequestID), csvCell(string(e.Metadata))})
		}
		flush = cw.Flush
	} else {
		w.Header().Set("Content-Type", "application/x-ndjson")
		w.Header().Set("Content-Disposition", `attachment; filename="`+file+`.ndjson"`)
		enc := json.NewEncoder(w)
		write = func(e audit.Row) error { return enc.Encode(e) }
		flush = func() {}
	}
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	for {
		for _, e := range page.Items {
			if err := write(e); err != nil {
				return nil // the client went away
			}
		}
		flush()
		_ = rc.Flush()
		if page.NextCursor == nil || r.Context().Err() != nil {
			return nil
		}
		f.Cursor = *page.NextCursor
		if page, err = list(f); err != nil {
			// The header is sent; all that is left is to stop, short.
			s.Log.Error("audit export", "requestId", requestIDFrom(r.Context()), "error", err)
			return nil
		}
	}
}
