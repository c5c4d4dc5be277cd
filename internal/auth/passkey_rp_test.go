package auth

import (
	"testing"

	"github.com/switchboard/switchboard/internal/apperr"
)

func TestPasskeys_CeremonyBindsToTheRequestOriginOnlyUnderTheRelyingPartyID(t *testing.T) {
	t.Parallel()
	s, err := New(nil, nil, nil, Config{PublicURL: "https://Switchboard.Example.com/", SigningKey: make([]byte, 32)})
	if err != nil {
		t.Fatal(err)
	}
	if s.cfg.WebAuthnRPID != "switchboard.example.com" {
		t.Fatalf("default relying party id %q", s.cfg.WebAuthnRPID)
	}
	s.cfg.WebAuthnRPID = "example.com"
	for origin, want := range map[string]string{
		"https://example.com":             "https://example.com",
		"https://app.example.com:8443":    "https://app.example.com:8443",
		"http://localhost:8080":           "https://switchboard.example.com",
		"https://notexample.com":          "https://switchboard.example.com",
		"https://example.com.evil.test":   "https://switchboard.example.com",
		"":                                "https://switchboard.example.com",
		"javascript:alert(1)":             "https://switchboard.example.com",
		"https://switchboard.example.com": "https://switchboard.example.com",
	} {
		if got := s.ceremonyOrigin(origin); got != want {
			t.Errorf("request origin %q: bound to %q, want %q", origin, got, want)
		}
	}
}

func TestPasskeys_OffForAnIPAddress(t *testing.T) {
	t.Parallel()
	for _, id := range []string{"127.0.0.1", "::1", "[::1]", ""} {
		s := &Service{cfg: Config{WebAuthnRPID: id}}
		if err := s.PasskeysEnabled(); apperr.CodeOf(err) != apperr.PasskeysUnavailable {
			t.Errorf("relying party id %q: %v", id, err)
		}
	}
	s := &Service{cfg: Config{WebAuthnRPID: "localhost"}}
	if err := s.PasskeysEnabled(); err != nil {
		t.Errorf("localhost: %v", err)
	}
}
