package actor

import (
	"time"

	"github.com/switchboard/switchboard/internal/apperr"
)

// ReauthWindow is how long a sign-in or a re-authentication lets a session
// take sensitive actions.
const ReauthWindow = 5 * time.Minute

// RequireReauth guards a sensitive action (what completes "… to <what>"):
// it passes a session that re-authenticated within ReauthWindow. A session
// that has not answers REAUTH_REQUIRED, which the client resolves with
// POST /api/v1/auth/reauth. An API key or an impersonation session can
// never re-authenticate, so for them the answer is FORBIDDEN: sensitive
// actions need the account holder, signed in.
func (a Actor) RequireReauth(what string) error {
	switch {
	case a.System:
		return nil
	case a.APIKeyID != "":
		return apperr.New(apperr.Forbidden, "an API key cannot %s: it needs the account holder, signed in and recently re-authenticated", what)
	case a.ImpersonatorID != "":
		return apperr.New(apperr.Forbidden, "an impersonation session cannot %s", what)
	case !a.Reauthenticated:
		return apperr.New(apperr.ReauthRequired,
			"confirm it is you to %s: re-authenticate (POST /api/v1/auth/reauth with your password or a second-factor code), then retry", what)
	}
	return nil
}
