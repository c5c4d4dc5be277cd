package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/switchboard/switchboard/internal/app/apptest"
)

func TestMe_OneUserCanNeverSeeOrRevokeAnothersSessionsOrKeys(t *testing.T) {
	runAuth(t, func(f authFlow) {
		a := f.SignUp("alice@example.com", authPassword)
		a2 := f.Login("alice@example.com", authPassword)
		aKey := f.createKey(a.AccessToken, "alice's key")
		_, ca := tokenClaims(f.t, a.AccessToken)
		_, ca2 := tokenClaims(f.t, a2.AccessToken)
		aSessions := []string{ca["sessionId"].(string), ca2["sessionId"].(string)}

		b := f.SignUp("bob@example.com", authPassword)
		bKey := f.createKey(b.AccessToken, "bob's key")
		aIDs := append([]string{aKey.ID, aKey.Prefix, a.UserID}, aSessions...)

		snapshot := func() (string, string) {
			sessions := f.Call(http.StatusOK, "GET", "/api/v1/me/sessions", a.AccessToken, nil)
			keys, _ := f.keys(a.AccessToken)
			return string(sessions.Raw), keys
		}
		aSessionsBefore, aKeysBefore := snapshot()

		for name, cred := range map[string]string{"Bob's access token": b.AccessToken, "Bob's API key": bKey.Key} {
			for _, path := range []string{"/api/v1/me/sessions", "/api/v1/me/api-keys", "/api/v1/audit", "/api/v1/me"} {
				r := f.Call(http.StatusOK, "GET", path, cred, nil)
				for _, id := range aIDs {
					if strings.Contains(string(r.Raw), id) {
						f.t.Errorf("%s: GET %s reveals Alice's %s: %s", name, path, id, r.Raw)
					}
				}
			}
			// Alice's ids answer exactly like ids that do not exist.
			missingSession := f.Do(apptest.Request{Method: "DELETE", Path: "/api/v1/me/sessions/ses_01jabcdefghjkmnpqrstvwxyz0", Token: cred})
			missingKey := f.Do(apptest.Request{Method: "DELETE", Path: "/api/v1/me/api-keys/key_01jabcdefghjkmnpqrstvwxyz0", Token: cred})
			for _, id := range aSessions {
				r := f.Do(apptest.Request{Method: "DELETE", Path: "/api/v1/me/sessions/" + id, Token: cred})
				f.wantErr(r, http.StatusNotFound, "NOT_FOUND", "session not found")
				if string(r.Raw) != string(missingSession.Raw) {
					f.t.Errorf("%s: Alice's session answers %s, a missing one %s", name, r.Raw, missingSession.Raw)
				}
			}
			r := f.Do(apptest.Request{Method: "DELETE", Path: "/api/v1/me/api-keys/" + aKey.ID, Token: cred})
			f.wantErr(r, http.StatusNotFound, "NOT_FOUND", "API key not found")
			if string(r.Raw) != string(missingKey.Raw) {
				f.t.Errorf("%s: Alice's key answers %s, a missing one %s", name, r.Raw, missingKey.Raw)
			}
		}

		// Alice's sessions and key are untouched and still work.
		for _, tok := range []string{a.AccessToken, a2.AccessToken, aKey.Key} {
			f.Call(http.StatusOK, "GET", "/api/v1/me", tok, nil)
		}
		// lastUsedAt moved with the calls above; compare everything else.
		if s, _ := snapshot(); s != aSessionsBefore {
			f.t.Errorf("Alice's sessions changed:\n%s\n%s", aSessionsBefore, s)
		}
		_, keys := f.keys(a.AccessToken)
		if len(keys) != 1 || keys[0].ID != aKey.ID || !strings.Contains(aKeysBefore, aKey.ID) {
			f.t.Errorf("Alice's keys changed: %+v", keys)
		}
		if n := f.count(`SELECT count(*) FROM sessions WHERE user_id = $1 AND revoked_at IS NOT NULL`, a.UserID); n != 0 {
			f.t.Errorf("%d of Alice's sessions revoked", n)
		}
	})
}
