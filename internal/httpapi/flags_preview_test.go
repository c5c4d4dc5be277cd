package httpapi_test

import (
	"net/http"
	"testing"

	"github.com/switchboard/switchboard/internal/app/apptest"
	"github.com/switchboard/switchboard/internal/db/dbtest"
)

type flagPreview struct {
	Enabled       bool    `json:"enabled"`
	Variant       *string `json:"variant"`
	Reason        string  `json:"reason"`
	Explanation   string  `json:"explanation"`
	RolloutBucket *int    `json:"rolloutBucket"`
	Source        string  `json:"source"`
	Subject       struct {
		UserID, OrganizationID, Role, Plan string
	} `json:"subject"`
}

// The preview answers what the running evaluation answers for the same
// subject, says which rule decided, and evaluates unsaved definitions
// without storing them.
func TestFlags_PreviewSaysWhoGetsItAndWhy(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h := apptest.Start(t, url)
		admin := h.Admin().AccessToken
		dev := signUpAs(t, h, admin, "dev@example.com", "DEVELOPER", "FREE")
		pro := signUpAs(t, h, admin, "pro@example.com", "MEMBER", "PRO")
		o := createOrg(t, h, pro, "Acme")
		h.Call(http.StatusCreated, "POST", "/api/v1/admin/flags", admin, map[string]any{"key": "new_inbox", "enabled": true,
			"roles": []string{"DEVELOPER"}, "percentage": 30, "variants": []map[string]any{{"key": "a", "weight": 50}, {"key": "b", "weight": 50}}})

		preview := func(status int, token string, body map[string]any) flagPreview {
			t.Helper()
			var p flagPreview
			r := h.Call(status, "POST", "/api/v1/admin/flags/new_inbox/preview", token, body)
			if status == http.StatusOK {
				r.Data(t, &p)
			}
			return p
		}
		p := preview(http.StatusOK, admin, map[string]any{"email": "DEV@example.com"})
		if !p.Enabled || p.Reason != "targeted_role" || p.Variant == nil || p.Subject.UserID != dev.UserID || p.Subject.Role != "DEVELOPER" ||
			p.Source != "stored" || p.Explanation == "" || p.RolloutBucket == nil {
			t.Fatalf("dev: %+v", p)
		}
		for who, s := range map[string]apptest.Session{"dev": dev, "pro": pro} {
			p := preview(http.StatusOK, admin, map[string]any{"userId": s.UserID})
			got := myFlags(t, h, s.AccessToken).Flags["new_inbox"]
			variant := ""
			if p.Variant != nil {
				variant = *p.Variant
			}
			if p.Enabled != got.Enabled || variant != got.Variant {
				t.Errorf("%s: preview %+v, evaluation %+v", who, p, got)
			}
			if !p.Enabled && p.Reason != "outside_rollout" {
				t.Errorf("%s: reason %s", who, p.Reason)
			}
		}
		// Role and plan alone, with no id, are outside any rollout.
		if p := preview(http.StatusOK, admin, map[string]any{"role": "MEMBER", "plan": "PRO"}); p.Enabled || p.Reason != "outside_rollout" || p.Variant != nil {
			t.Errorf("anonymous member: %+v", p)
		}
		// An organization brings its plan; an unsaved definition targets it.
		def := map[string]any{"enabled": true, "organizationIds": []string{o.ID}}
		p = preview(http.StatusOK, admin, map[string]any{"userId": pro.UserID, "organizationId": o.ID, "definition": def})
		if !p.Enabled || p.Reason != "targeted_organization" || p.Source != "definition" || p.Subject.Plan != "FREE" || p.Variant != nil {
			t.Errorf("unsaved org targeting: %+v", p)
		}
		// The preview stored nothing.
		var f flagView
		h.Call(http.StatusOK, "GET", "/api/v1/admin/flags/new_inbox", admin, nil).Data(t, &f)
		if len(f.OrganizationIDs) != 0 || len(f.Roles) != 1 {
			t.Errorf("the preview changed the flag: %+v", f)
		}
		var none flagPreview
		h.Call(http.StatusOK, "POST", "/api/v1/admin/flags/not_yet/preview", admin, map[string]any{"role": "ADMIN", "definition": map[string]any{"enabled": false}}).Data(t, &none)
		if none.Enabled || none.Reason != "off" {
			t.Errorf("disabled definition: %+v", none)
		}

		h.Call(http.StatusNotFound, "POST", "/api/v1/admin/flags/not_yet/preview", admin, map[string]any{"role": "ADMIN"})
		h.Call(http.StatusNotFound, "POST", "/api/v1/admin/flags/new_inbox/preview", admin, map[string]any{"email": "nobody@example.com"})
		h.Call(http.StatusBadRequest, "POST", "/api/v1/admin/flags/new_inbox/preview", admin, map[string]any{"role": "OWNER"})
		h.Call(http.StatusBadRequest, "POST", "/api/v1/admin/flags/new_inbox/preview", admin, map[string]any{"definition": map[string]any{"enabled": true, "percentage": 101}})
		h.Call(http.StatusForbidden, "POST", "/api/v1/admin/flags/new_inbox/preview", dev.AccessToken, map[string]any{"role": "ADMIN"})
	})
}
