package httpapi

import (
	"math"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/ratelimit"
)

// maxAPILimit bounds a scaled limit, so that a huge --api-rate-limit-scale
// still leaves the limiter a positive interval between requests.
const maxAPILimit = 1_000_000_000

// apiRateLimit counts an authenticated /api/v1 request against its plan's
// limits (actor.Limits.APIRequestsPerMinute, per credential, and
// APIWorkspaceRequestsPerMinute, per workspace) and describes the most
// restrictive of them in RateLimit-Limit, RateLimit-Remaining and
// RateLimit-Reset. The credential is the API key; for a session, the user
// in that workspace (all of the user's sessions together); an impersonation
// session is one of its own, so an admin's support work does not use up the
// user's own allowance, though it does count toward the workspace's.
// Admins are not exempt: their keys and sessions count like anyone's,
// under the plan of the workspace they act in.
func (s *Server) apiRateLimit(w http.ResponseWriter, r *http.Request, a actor.Actor) error {
	if s.APILimiter == nil {
		return nil
	}
	if p := path.Clean("/" + r.URL.Path); !strings.HasPrefix(p, "/api/v1/") {
		return nil
	}
	lim, ok := actor.PlanLimits[a.Plan]
	if !ok {
		lim = actor.PlanLimits[actor.Free]
	}
	ws := a.WorkspaceID()
	cred, scope, per := "user:"+a.UserID+"@"+ws, "user", "per user"
	switch {
	case a.APIKeyID != "":
		cred, scope, per = "key:"+a.APIKeyID, "apiKey", "per API key"
	case a.ImpersonatorID != "":
		cred, scope, per = "imp:"+a.ImpersonatorID+":"+a.UserID+"@"+ws, "impersonation", "per impersonation session"
	}
	d := s.APILimiter.Allow(
		ratelimit.Rule{Key: cred, Limit: s.scaledLimit(lim.APIRequestsPerMinute)},
		ratelimit.Rule{Key: "ws:" + ws, Limit: s.scaledLimit(lim.APIWorkspaceRequestsPerMinute)},
	)
	if d.Rule < 0 {
		return nil
	}
	h := w.Header()
	h.Set("RateLimit-Limit", strconv.Itoa(d.Limit))
	h.Set("RateLimit-Remaining", strconv.Itoa(d.Remaining))
	h.Set("RateLimit-Reset", strconv.Itoa(ceilSeconds(d.Reset)))
	if d.Allowed {
		return nil
	}
	secs := max(ceilSeconds(d.RetryAfter), 1)
	if d.Rule == 1 {
		scope, per = "workspace", "for the workspace"
	}
	return apperr.New(apperr.RateLimited, "too many requests: the %s plan allows %d API requests per minute %s; retry in %d seconds",
		planName(a.Plan), d.Limit, per, secs).
		WithDetails(map[string]any{"retryAfterSeconds": secs, "limit": d.Limit, "scope": scope})
}

// scaledLimit is a plan's per-minute limit times the configured scale; a
// plan without the limit (≤ 0) gets none.
func (s *Server) scaledLimit(n int64) int {
	if n <= 0 {
		return 0
	}
	return int(min(math.Ceil(float64(n)*s.opt.APIRateLimitScale), maxAPILimit))
}

func planName(p actor.Plan) actor.Plan {
	if !p.Valid() {
		return actor.Free
	}
	return p
}

// ceilSeconds rounds a wait up to whole seconds, as the headers carry it.
func ceilSeconds(d time.Duration) int {
	return int((d + time.Second - 1) / time.Second)
}
