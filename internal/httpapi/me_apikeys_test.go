package httpapi_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/app/apptest"
	"github.com/switchboard/switchboard/internal/db"
)

type apiKeyView struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Prefix     string     `json:"prefix"`
	Key        string     `json:"key"`
	LastUsedAt *time.Time `json:"lastUsedAt"`
}

// createKey makes an API key with the token's owner rights.
func (f authFlow) createKey(token, name string) apiKeyView {
	f.t.Helper()
	var k apiKeyView
	f.Call(http.StatusCreated, "POST", "/api/v1/me/api-keys", token, map[string]string{"name": name}).Data(f.t, &k)
	return k
}

// keys lists the token owner's API keys, raw and decoded.
func (f authFlow) keys(token string) (string, []apiKeyView) {
	f.t.Helper()
	var out []apiKeyView
	r := f.Call(http.StatusOK, "GET", "/api/v1/me/api-keys", token, nil)
	r.Items(f.t, &out)
	return string(r.Raw), out
}

func TestAPIKeys_ShownOnceStoredHashedUsableAndRevocable(t *testing.T) {
	runAuth(t, func(f authFlow) {
		s := f.SignUp("keys@example.com", authPassword)
		k := f.createKey(s.AccessToken, "deploy bot")
		if !strings.HasPrefix(k.Key, "sbk_") || len(k.Key) < 4+43 || !strings.HasPrefix(k.Key, k.Prefix) || k.ID == "" {
			f.t.Fatalf("created key: %+v", k)
		}
		raw, list := f.keys(s.AccessToken)
		if len(list) != 1 || list[0].ID != k.ID || list[0].Key != "" || strings.Contains(raw, k.Key) {
			f.t.Fatalf("key listing shows the key or misses it: %s", raw)
		}
		if list[0].LastUsedAt != nil {
			f.t.Fatalf("unused key has lastUsedAt: %s", raw)
		}

		// Stored hashed: no column of its row holds the key.
		row := map[string]string{}
		rows, err := f.App.DB.Read().QueryContext(context.Background(), `SELECT * FROM api_keys WHERE id = $1`, k.ID)
		if err != nil {
			f.t.Fatal(err)
		}
		cols, _ := rows.Columns()
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				f.t.Fatal(err)
			}
			for i, c := range cols {
				row[c] = fmt.Sprintf("%s", vals[i])
			}
		}
		rows.Close()
		secret := strings.TrimPrefix(k.Key, "sbk_")
		for c, v := range row {
			if strings.Contains(v, secret[10:]) {
				f.t.Errorf("api_keys.%s holds the key in clear: %q", c, v)
			}
		}
		sum := sha256.Sum256([]byte(k.Key))
		if row["key_hash"] != hex.EncodeToString(sum[:]) {
			f.t.Errorf("key_hash %q is not the key's SHA-256", row["key_hash"])
		}

		// Usable as a bearer credential, with the owner's identity.
		var me meView
		f.Call(http.StatusOK, "GET", "/api/v1/me", k.Key, nil).Data(f.t, &me)
		if me.ID != s.UserID {
			f.t.Fatalf("API key acts as %s, want %s", me.ID, s.UserID)
		}
		f.Call(http.StatusOK, "GET", "/api/v1/me/sessions", k.Key, nil)
		f.Call(http.StatusForbidden, "GET", "/api/v1/admin/users", k.Key, nil)
		_, list = f.keys(s.AccessToken)
		if list[0].LastUsedAt == nil || time.Since(*list[0].LastUsedAt) > time.Minute {
			f.t.Fatalf("last use not recorded: %+v", list[0])
		}
		f.wantErr(f.Do(apptest.Request{Method: "POST", Path: "/api/v1/auth/logout", Token: k.Key}), http.StatusBadRequest,
			"VALIDATION_ERROR", "this credential is an API key, not a session; revoke the key instead")

		f.Call(http.StatusOK, "DELETE", "/api/v1/me/api-keys/"+k.ID, s.AccessToken, nil)
		f.wantErr(f.Do(apptest.Request{Method: "GET", Path: "/api/v1/me", Token: k.Key}), http.StatusUnauthorized,
			"UNAUTHORIZED", "API key is revoked or expired")
		if raw, list := f.keys(s.AccessToken); len(list) != 0 {
			f.t.Fatalf("revoked key still listed: %s", raw)
		}
		f.wantErr(f.Do(apptest.Request{Method: "DELETE", Path: "/api/v1/me/api-keys/" + k.ID, Token: s.AccessToken}),
			http.StatusNotFound, "NOT_FOUND", "API key not found")
		f.wantErr(f.Do(apptest.Request{Method: "GET", Path: "/api/v1/me", Token: "sbk_" + strings.Repeat("A", 43)}),
			http.StatusUnauthorized, "UNAUTHORIZED", "API key is invalid")

		expiring := f.createKey(s.AccessToken, "short-lived")
		f.Call(http.StatusOK, "GET", "/api/v1/me", expiring.Key, nil)
		f.exec(`UPDATE api_keys SET expires_at = $1 WHERE id = $2`, db.Now().Add(-time.Second), expiring.ID)
		f.Call(http.StatusUnauthorized, "GET", "/api/v1/me", expiring.Key, nil)
	})
}

func TestAPIKeys_CarryTheOwnersRights(t *testing.T) {
	runAuth(t, func(f authFlow) {
		admin := f.Admin()
		k := f.createKey(admin.AccessToken, "admin automation")
		f.Call(http.StatusOK, "GET", "/api/v1/admin/users", k.Key, nil)
		// A key outlives a logout of the session that made it…
		f.Call(http.StatusOK, "POST", "/api/v1/auth/logout-all", admin.AccessToken, nil)
		f.Call(http.StatusOK, "GET", "/api/v1/admin/users", k.Key, nil)
		// …but not a demotion of its owner: rights are read on every request.
		u := f.SignUp("demoted@example.com", authPassword)
		uk := f.createKey(u.AccessToken, "mine")
		admin = f.Admin()
		f.Call(http.StatusOK, "PATCH", "/api/v1/admin/users/"+u.UserID, admin.AccessToken, map[string]string{"role": "ADMIN"})
		f.Call(http.StatusOK, "GET", "/api/v1/admin/users", uk.Key, nil)
		f.Call(http.StatusOK, "PATCH", "/api/v1/admin/users/"+u.UserID, admin.AccessToken, map[string]string{"role": "MEMBER"})
		f.Call(http.StatusForbidden, "GET", "/api/v1/admin/users", uk.Key, nil)
	})
}
