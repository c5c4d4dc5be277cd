package config

import (
	"bytes"
	"flag"
	"io"
	"strings"
	"testing"
)

func load(t *testing.T, args []string, env map[string]string) (Config, error) {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return Load(fs, args, func(k string) string { return env[k] })
}

func TestLoad_DefaultsAreAUsableLocalSetup(t *testing.T) {
	t.Parallel()
	c, err := load(t, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:8080" || c.DataDir != "./data" || c.DatabaseURL != "data/switchboard.db" ||
		c.PublicURL != "http://127.0.0.1:8080" || c.SQLiteSynchronous != "NORMAL" || c.AuthRateLimit != 30 || c.APIRateLimitScale != 1 {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestLoad_FlagBeatsEnvironmentBeatsDefault(t *testing.T) {
	t.Parallel()
	env := map[string]string{"SWITCHBOARD_LISTEN": "127.0.0.1:9000", "SWITCHBOARD_DATA_DIR": "/srv/sb"}
	c, err := load(t, []string{"--listen", "127.0.0.1:9100"}, env)
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:9100" || c.DataDir != "/srv/sb" || c.DatabaseURL != "/srv/sb/switchboard.db" {
		t.Fatalf("precedence: %+v", c)
	}
}

func TestLoad_ReportsEveryBadSettingAtOnce(t *testing.T) {
	t.Parallel()
	_, err := load(t, []string{"--listen", "nohost", "--public-url", "ftp://x", "--log-level", "loud",
		"--sqlite-synchronous", "OFF", "--max-body-bytes", "12", "--auth-rate-limit", "-1", "--api-rate-limit-scale", "0",
		"--database-url", "mysql://x", "--smtp-url", "http://mail", "--trust-proxy", "perhaps", "--shutdown-timeout", "soon"}, nil)
	if err == nil {
		t.Fatal("bad settings accepted")
	}
	for _, name := range []string{"--listen", "--public-url", "--log-level", "--sqlite-synchronous", "--max-body-bytes",
		"--auth-rate-limit", "--api-rate-limit-scale", "--database-url", "--smtp-url", "--trust-proxy", "--shutdown-timeout"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s: %v", name, err)
		}
	}
}

func TestLoad_HelpNeverShowsSecretsFromTheEnvironment(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(&out)
	env := map[string]string{"SWITCHBOARD_ADMIN_PASSWORD": "very-secret-admin-pw", "SWITCHBOARD_TOKEN_KEY": "c2VjcmV0LXRva2VuLWtleQ"}
	_, err := Load(fs, []string{"-h"}, func(k string) string { return env[k] })
	if err != flag.ErrHelp {
		t.Fatalf("err %v", err)
	}
	if strings.Contains(out.String(), "very-secret-admin-pw") || strings.Contains(out.String(), "c2VjcmV0LXRva2VuLWtleQ") {
		t.Fatalf("help printed a secret:\n%s", out.String())
	}
}

func TestLoadOrCreateKey_GeneratesOnceAndValidates(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	k1, err := LoadOrCreateKey("", dir, "token.key", 32)
	if err != nil || len(k1) != 32 {
		t.Fatalf("generate: %v %d", err, len(k1))
	}
	k2, err := LoadOrCreateKey("", dir, "token.key", 32)
	if err != nil || !bytes.Equal(k1, k2) {
		t.Fatal("second start read a different key")
	}
	if _, err := LoadOrCreateKey("c2hvcnQ", dir, "x.key", 32); err == nil || !strings.Contains(err.Error(), "at least 32 bytes") {
		t.Fatalf("short key: %v", err)
	}
	if _, err := LoadOrCreateKey("!!!", dir, "x.key", 32); err == nil {
		t.Fatal("garbage key accepted")
	}
}

func TestLoad_ErrorsNameWhereEachBadValueCameFrom(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"SWITCHBOARD_LOG_LEVEL":  "loud",
		"SWITCHBOARD_TOKEN_KEY":  "c2hvcnQ",
		"SWITCHBOARD_SECRET_KEY": "not-a-key-at-all",
		"SWITCHBOARD_WORKERS":    "sometimes",
		"SWITCHBOARD_LOG_FORMAT": "xml",
		"SWITCHBOARD_SMTP_URL":   "http://user:hunter2@mail",
		"SWITCHBOARD_DATA_DIR":   "/srv/sb",
	}
	_, err := load(t, []string{"--listen", "nohost", "--log-format", "yaml", "--cors-origins", "https://ok.example,*,https://a.example/path",
		"--metrics-addr", "9090"}, env)
	if err == nil {
		t.Fatal("bad settings accepted")
	}
	lines := strings.Split(err.Error(), "\n")
	starts := func(prefix string) bool {
		for _, l := range lines {
			if strings.HasPrefix(l, prefix) {
				return true
			}
		}
		return false
	}
	// From the environment: the variable, and the flag that would override it.
	for _, p := range []string{"SWITCHBOARD_LOG_LEVEL (environment; flag --log-level):", "SWITCHBOARD_TOKEN_KEY (environment",
		"SWITCHBOARD_SECRET_KEY (environment", "SWITCHBOARD_WORKERS (environment", "SWITCHBOARD_SMTP_URL (environment"} {
		if !starts(p) {
			t.Errorf("no line starts with %q:\n%v", p, err)
		}
	}
	// From flags: the flag, even when the environment sets it too.
	for _, p := range []string{"--listen:", "--log-format:", "--metrics-addr:"} {
		if !starts(p) {
			t.Errorf("no line starts with %q:\n%v", p, err)
		}
	}
	if n := strings.Count(err.Error(), "--cors-origins:"); n != 2 {
		t.Errorf("%d --cors-origins errors, want one per bad origin:\n%v", n, err)
	}
	if strings.Contains(err.Error(), "SWITCHBOARD_LOG_FORMAT") {
		t.Errorf("blamed the variable a flag overrode:\n%v", err)
	}
	if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "not-a-key-at-all") {
		t.Errorf("the error repeats a secret:\n%v", err)
	}
}

func TestLoadArgs_FlagsGoAnywhereAmongArguments(t *testing.T) {
	t.Parallel()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c, rest, err := LoadArgs(fs, []string{"--data-dir", "/a", "key_1", "--listen", "127.0.0.1:9", "key_2", "--", "--log-level", "-x"},
		func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if c.DataDir != "/a" || c.Listen != "127.0.0.1:9" || c.LogLevel != "info" {
		t.Errorf("flags around arguments: %+v", c)
	}
	if strings.Join(rest, " ") != "key_1 key_2 --log-level -x" {
		t.Errorf("positional arguments %q", rest)
	}
	// Load takes none.
	if _, err := load(t, []string{"extra", "--listen", "127.0.0.1:9"}, nil); err == nil || !strings.Contains(err.Error(), `"extra"`) {
		t.Errorf("stray argument: %v", err)
	}
	// -h after an argument still asks for help.
	fs = flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if _, _, err := LoadArgs(fs, []string{"key_1", "-h"}, func(string) string { return "" }); err != flag.ErrHelp {
		t.Errorf("-h after an argument: %v", err)
	}
}

func TestLoad_WebSettings(t *testing.T) {
	t.Parallel()
	c, err := load(t, []string{"--cors-origins", " https://App.Example.com/ ,http://localhost:5173,https://app.example.com"},
		map[string]string{"SWITCHBOARD_METRICS_ADDR": "127.0.0.1:9090"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.CORSOrigins, " ") != "https://app.example.com http://localhost:5173" || c.MetricsAddr != "127.0.0.1:9090" {
		t.Errorf("web settings: %q %q", c.CORSOrigins, c.MetricsAddr)
	}
	if c, _ := load(t, nil, nil); c.CORSOrigins != nil || c.MetricsAddr != "" {
		t.Errorf("defaults: %q %q", c.CORSOrigins, c.MetricsAddr)
	}
	for _, bad := range []string{"*", "https://*.example.com", "ftp://x.example", "https://x.example/app", "x.example", "https://u:p@x.example", "https://x.example:http"} {
		if _, err := load(t, []string{"--cors-origins", bad}, nil); err == nil {
			t.Errorf("--cors-origins %q accepted", bad)
		}
	}
	if _, err := load(t, []string{"--metrics-addr", "127.0.0.1:8080"}, nil); err == nil || !strings.Contains(err.Error(), "differ") {
		t.Errorf("metrics on the main address: %v", err)
	}
}

func TestConfig_ClusterWarningsNameBothKeys(t *testing.T) {
	t.Parallel()
	pg := "postgres://sb@db/sb"
	key := "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
	if w := (Config{DatabaseURL: "data/switchboard.db"}).ClusterWarnings(); len(w) != 0 {
		t.Errorf("SQLite warned: %q", w)
	}
	w := Config{DatabaseURL: pg, DataDir: "/srv/sb"}.ClusterWarnings()
	all := strings.Join(w, "\n")
	if len(w) != 3 || !strings.Contains(all, "SWITCHBOARD_TOKEN_KEY") || !strings.Contains(all, "/srv/sb/token.key") ||
		!strings.Contains(all, "SWITCHBOARD_SECRET_KEY") || !strings.Contains(all, "/srv/sb/secret.keys") ||
		!strings.Contains(all, "SWITCHBOARD_AUDIT_SIGNING_KEY") || !strings.Contains(all, "/srv/sb/audit-signing.keys") {
		t.Errorf("PostgreSQL without keys: %q", w)
	}
	if w := (Config{DatabaseURL: pg, TokenKey: key, AuditSigningKey: key}).ClusterWarnings(); len(w) != 1 || !strings.Contains(w[0], "SWITCHBOARD_SECRET_KEY") {
		t.Errorf("only the sealing key missing: %q", w)
	}
	if w := (Config{DatabaseURL: pg, SecretKey: key, AuditSigningKey: key}).ClusterWarnings(); len(w) != 1 || !strings.Contains(w[0], "SWITCHBOARD_TOKEN_KEY") {
		t.Errorf("only the signing key missing: %q", w)
	}
	if w := (Config{DatabaseURL: pg, TokenKey: key, SecretKey: key}).ClusterWarnings(); len(w) != 1 || !strings.Contains(w[0], "SWITCHBOARD_AUDIT_SIGNING_KEY") {
		t.Errorf("only the audit key missing: %q", w)
	}
	if w := (Config{DatabaseURL: pg, TokenKey: key, SecretKey: key, AuditSigningKey: key}).ClusterWarnings(); len(w) != 0 {
		t.Errorf("every key set: %q", w)
	}
}

func TestLoad_WebAuthnRPIDDefaultsToThePublicURLsHost(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "127.0.0.1"},
		{[]string{"--public-url", "https://Switchboard.Example.com:8443/"}, "switchboard.example.com"},
		{[]string{"--public-url", "http://127.0.0.1:8080", "--webauthn-rp-id", "LocalHost"}, "localhost"},
	} {
		c, err := load(t, tc.args, nil)
		if err != nil {
			t.Fatal(err)
		}
		if c.WebAuthnRPID != tc.want {
			t.Errorf("%v: rp id %q, want %q", tc.args, c.WebAuthnRPID, tc.want)
		}
	}
	for _, bad := range []string{"https://example.com", "example.com:443", "exa mple.com", ".example.com", "example.com/x"} {
		if _, err := load(t, []string{"--webauthn-rp-id", bad}, nil); err == nil || !strings.Contains(err.Error(), "--webauthn-rp-id") {
			t.Errorf("rp id %q: %v", bad, err)
		}
	}
	c, err := load(t, nil, map[string]string{"SWITCHBOARD_WEBAUTHN_RP_ID": "example.org"})
	if err != nil || c.WebAuthnRPID != "example.org" {
		t.Fatalf("from the environment: %q %v", c.WebAuthnRPID, err)
	}
}
