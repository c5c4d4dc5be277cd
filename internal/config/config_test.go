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
