package httpapi_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/switchboard/switchboard/internal/app/apptest"
	"github.com/switchboard/switchboard/internal/db"
)

// TestSecrets_NeverReachLogsAuditOrListings drives every flow that handles a
// secret, then looks for each secret everywhere it must never be: the
// node's logs, every audit row, the job table (mail jobs carry reset and
// verification links, sealed), and every listing a user or admin can read.
func TestSecrets_NeverReachLogsAuditOrListings(t *testing.T) {
	runAuth(t, func(f authFlow) {
		const (
			email = "secretive@example.com"
			pw1   = "first secret passphrase"
			pw2   = "second secret passphrase"
			pw3   = "third secret passphrase"
			// A password typed into the email box by mistake.
			typo = "typed into the wrong box"
		)
		secrets := map[string]string{"password 1": pw1, "password 2": pw2, "password 3": pw3,
			"wrong password": wrongPassword, "password in the email field": typo, "admin password": apptest.AdminPassword}
		jwt := func(name, token string) {
			secrets[name] = token
			secrets[name+" signature"] = token[strings.LastIndexByte(token, '.')+1:]
		}

		f.Call(http.StatusCreated, "POST", "/api/v1/auth/signup", "", map[string]string{"email": email, "password": pw1, "name": "S"})
		secrets["verification token"] = apptest.TokenIn(f.t, f.mailWith(email, "Confirm your email"))
		f.Call(http.StatusOK, "POST", "/api/v1/auth/email/verify", "", map[string]string{"token": secrets["verification token"]})

		s1 := f.Login(email, pw1)
		jwt("access token 1", s1.AccessToken)
		secrets["refresh token 1"] = s1.RefreshToken
		var rotated struct{ AccessToken, RefreshToken string }
		f.Call(http.StatusOK, "POST", "/api/v1/auth/refresh", "", map[string]string{"refreshToken": s1.RefreshToken}).Data(f.t, &rotated)
		jwt("access token 2", rotated.AccessToken)
		secrets["refresh token 2"] = rotated.RefreshToken

		f.Call(http.StatusAccepted, "POST", "/api/v1/auth/password/forgot", "", map[string]string{"email": email})
		secrets["reset token"] = apptest.TokenIn(f.t, f.mailWith(email, resetSubject))
		f.Call(http.StatusOK, "POST", "/api/v1/auth/password/reset", "", map[string]string{"token": secrets["reset token"], "password": pw2})
		f.post("/api/v1/auth/password/reset", "", map[string]string{"token": secrets["reset token"], "password": pw2})

		s3 := f.Login(email, pw2)
		jwt("access token 3", s3.AccessToken)
		secrets["refresh token 3"] = s3.RefreshToken
		f.Call(http.StatusOK, "POST", "/api/v1/me/password", s3.AccessToken, map[string]string{"currentPassword": pw2, "newPassword": pw3})
		f.post("/api/v1/me/password", s3.AccessToken, map[string]string{"currentPassword": wrongPassword, "newPassword": pw3})
		key := f.createKey(s3.AccessToken, "automation")
		secrets["API key"] = key.Key[len(key.Prefix):] // the prefix is shown on purpose
		f.Call(http.StatusOK, "GET", "/api/v1/me", key.Key, nil)

		f.login(email, wrongPassword)
		f.login(typo, pw3)
		f.post("/api/v1/auth/password/forgot", "", map[string]string{"email": typo})
		f.post("/api/v1/auth/refresh", "", map[string]string{"refreshToken": s1.RefreshToken}) // reuse
		f.Call(http.StatusOK, "POST", "/api/v1/auth/logout", s3.AccessToken, nil)

		admin := f.Admin()
		jwt("admin access token", admin.AccessToken)
		f.Call(http.StatusOK, "GET", "/api/v1/admin/users?q="+url.QueryEscape(email), admin.AccessToken, nil)

		places := map[string]string{}
		var listing strings.Builder
		for cursor := ""; ; {
			var page struct {
				Items      []any
				NextCursor string
			}
			r := f.Call(http.StatusOK, "GET", "/api/v1/admin/audit?limit=200&cursor="+url.QueryEscape(cursor), admin.AccessToken, nil)
			r.Data(f.t, &page)
			listing.Write(r.Raw)
			if cursor = page.NextCursor; cursor == "" {
				break
			}
		}
		places["admin audit listing"] = listing.String()
		s4 := f.Login(email, pw3)
		for _, path := range []string{"/api/v1/audit?limit=200", "/api/v1/me", "/api/v1/me/sessions", "/api/v1/me/api-keys"} {
			places["GET "+path] = string(f.Call(http.StatusOK, "GET", path, s4.AccessToken, nil).Raw)
		}
		places["admin user listing"] = string(f.Call(http.StatusOK, "GET", "/api/v1/admin/users?limit=200", admin.AccessToken, nil).Raw)

		rows, err := f.App.DB.Read().QueryContext(context.Background(),
			`SELECT metadata, user_agent, resource_id, action FROM audit_logs ORDER BY seq`)
		if err != nil {
			f.t.Fatal(err)
		}
		var stored strings.Builder
		n := 0
		for rows.Next() {
			var meta, ua, action string
			var rid *string
			if err := rows.Scan(&meta, &ua, &rid, &action); err != nil {
				f.t.Fatal(err)
			}
			stored.WriteString(meta + "\n" + ua + "\n")
			if rid != nil {
				stored.WriteString(*rid + "\n")
			}
			n++
		}
		if err := rows.Close(); err != nil {
			f.t.Fatal(err)
		}
		if n < 15 {
			f.t.Fatalf("only %d audit rows: the flow did not run", n)
		}
		places["audit_logs table"] = stored.String()
		places["river_job table"] = f.jobTable()
		if !strings.Contains(places["river_job table"], "sb1:") {
			f.t.Fatalf("no sealed mail job in river_job, so the job check proves nothing:\n%s", places["river_job table"])
		}
		places["logs"] = f.Logs()
		if !strings.Contains(places["logs"], "/api/v1/auth/login") {
			f.t.Fatalf("the node logged no requests, so the log check proves nothing:\n%s", places["logs"])
		}

		for where, text := range places {
			for what, secret := range secrets {
				if strings.Contains(text, secret) {
					f.t.Errorf("%s found in %s", what, where)
				}
			}
		}
	}, withMail)
}

// jobTable returns every row of river_job as text: args, metadata and
// recorded errors, each as stored and as JSON text.
func (f authFlow) jobTable() string {
	f.t.Helper()
	q := `SELECT CAST(args AS BLOB), json(args), json(metadata), coalesce(json(errors), '') FROM river_job`
	if f.App.DB.Dialect == db.Postgres {
		q = `SELECT convert_to(args::text, 'UTF8'), args::text, metadata::text, coalesce(errors::text, '') FROM river_job`
	}
	rows, err := f.App.DB.Read().QueryContext(context.Background(), q)
	if err != nil {
		f.t.Fatal(err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var raw []byte
		var args, meta, errs string
		if err := rows.Scan(&raw, &args, &meta, &errs); err != nil {
			f.t.Fatal(err)
		}
		b.Write(raw)
		b.WriteString("\n" + args + "\n" + meta + "\n" + errs + "\n")
	}
	if err := rows.Err(); err != nil {
		f.t.Fatal(err)
	}
	return b.String()
}
