// Package config reads Switchboard's settings from flags and SWITCHBOARD_*
// environment variables (a flag wins over its variable) and validates them
// before anything starts.
package config

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard/switchboard/internal/db"
)

// Config is the validated configuration of one node.
type Config struct {
	Listen      string
	DataDir     string
	DatabaseURL string
	PublicURL   string
	// TokenKey signs access tokens; SecretKey seals third-party credentials.
	// Empty means: read from, or generate into, the data dir.
	TokenKey  string
	SecretKey string

	AdminEmail    string
	AdminPassword string

	SMTPURL  string
	MailFrom string

	LogLevel  string
	LogFormat string

	SQLiteSynchronous string
	// DatabaseMaxConns bounds this node's PostgreSQL connections (0: the
	// database package's default).
	DatabaseMaxConns int32
	MaxBodyBytes     int64
	MaxUploadBytes   int64
	AuthRateLimit    int
	// APIRateLimitScale multiplies every plan's API request limits.
	APIRateLimitScale float64
	TrustProxy        bool
	Workers           bool
	ShutdownTimeout   time.Duration
	// DrainDelay is how long a stopping node keeps serving while /readyz
	// answers 503, so a load balancer's health check takes it out of
	// rotation before its listener closes.
	DrainDelay time.Duration
	// OTLPEndpoint, when set, is where spans go (OTLP over HTTP).
	OTLPEndpoint string
	// NodeDeadAfter is how long a PostgreSQL worker node may miss its
	// heartbeat before the other nodes take over its running jobs.
	NodeDeadAfter time.Duration
	// Gateway holds the gateway settings (gateway.go).
	Gateway GatewayConfig
	// Stripe holds the billing settings (stripe.go).
	Stripe StripeConfig
	// AI holds the LLM provider settings of ai-reply (ai.go).
	AI AIConfig
	// MetricsAddr, when set, serves /metrics on its own listener instead
	// of the main one (web.go).
	MetricsAddr string
	// CORSOrigins are the exact browser origins allowed to call /api/v1
	// from another origin (web.go); empty: none.
	CORSOrigins []string
	// WebAuthnRPID is the passkeys' relying party id (webauthn.go); an IP
	// address turns passkeys off.
	WebAuthnRPID string
	// AuditSigningKey signs the audit log's checkpoints (audit.go); empty
	// means: read from, or generate into, the data dir.
	AuditSigningKey string
}

// setting is one configurable value: its flag, its variable and its help.
type setting struct {
	name, env, def, help string
	target               *string
}

// Settings returns the documented table of settings (used by the README and
// `--help`).
func settings(c *rawConfig) []setting {
	return append([]setting{
		{"listen", "SWITCHBOARD_LISTEN", "127.0.0.1:8080", "address to serve HTTP on", &c.listen},
		{"data-dir", "SWITCHBOARD_DATA_DIR", "./data", "folder for the SQLite database, generated keys and the mail outbox", &c.dataDir},
		{"database-url", "SWITCHBOARD_DATABASE_URL", "", "postgres://… for PostgreSQL; default: SQLite file <data-dir>/switchboard.db", &c.databaseURL},
		{"public-url", "SWITCHBOARD_PUBLIC_URL", "", "base URL users reach this server at, used in mailed links; default http://<listen>", &c.publicURL},
		{"token-key", "SWITCHBOARD_TOKEN_KEY", "", "access-token signing key (≥32 bytes, base64 or hex); default: generated into <data-dir>/token.key", &c.tokenKey},
		{"secret-key", "SWITCHBOARD_SECRET_KEY", "", "credential sealing keys (32 bytes each, base64 or hex; several comma-separated, primary first); default: read from, or generated into, <data-dir>/secret.keys", &c.secretKey},
		{"admin-email", "SWITCHBOARD_ADMIN_EMAIL", "", "first SUPER_ADMIN's email, created on first start if there is none", &c.adminEmail},
		{"admin-password", "SWITCHBOARD_ADMIN_PASSWORD", "", "first SUPER_ADMIN's password; default: a random one printed once", &c.adminPassword},
		{"smtp-url", "SWITCHBOARD_SMTP_URL", "", "smtp://user:pass@host:587?from=… ; default: mail is written to <data-dir>/mail/*.eml", &c.smtpURL},
		{"mail-from", "SWITCHBOARD_MAIL_FROM", "Switchboard <no-reply@switchboard.local>", "sender of outbound mail", &c.mailFrom},
		{"log-level", "SWITCHBOARD_LOG_LEVEL", "info", "debug, info, warn or error", &c.logLevel},
		{"log-format", "SWITCHBOARD_LOG_FORMAT", "json", "json or text", &c.logFormat},
		{"database-max-conns", "SWITCHBOARD_DATABASE_MAX_CONNS", "0", "PostgreSQL: connections this node may open, shared by requests and jobs; 0: the URL's pool_max_conns if it names one, else one per core, at least 4", &c.dbMaxConns},
		{"sqlite-synchronous", "SWITCHBOARD_SQLITE_SYNCHRONOUS", "NORMAL", "NORMAL (survives process crashes) or FULL (also power loss)", &c.sqliteSync},
		{"max-body-bytes", "SWITCHBOARD_MAX_BODY_BYTES", "1048576", "largest accepted request body", &c.maxBody},
		{"max-upload-bytes", "SWITCHBOARD_MAX_UPLOAD_BYTES", "16777216", "largest accepted upload (plugin submissions)", &c.maxUpload},
		{"auth-rate-limit", "SWITCHBOARD_AUTH_RATE_LIMIT", "30", "requests per minute one IP may make to the auth endpoints", &c.authRate},
		{"api-rate-limit-scale", "SWITCHBOARD_API_RATE_LIMIT_SCALE", "1", "multiplier on every plan's per-minute API request limits (docs/api.md), e.g. 2 doubles them", &c.apiRateScale},
		{"trust-proxy", "SWITCHBOARD_TRUST_PROXY", "false", "take the client IP from the last X-Forwarded-For entry, the one the proxy appended (only behind a proxy that sets it)", &c.trustProxy},
		{"workers", "SWITCHBOARD_WORKERS", "true", "run background jobs on this node (false for an API-only node)", &c.workers},
		{"shutdown-timeout", "SWITCHBOARD_SHUTDOWN_TIMEOUT", "15s", "how long to drain requests on shutdown", &c.shutdown},
		{"otlp-endpoint", "SWITCHBOARD_OTLP_ENDPOINT", "", "OpenTelemetry collector to send traces to over OTLP/HTTP, e.g. http://otel-collector:4318 (default: no tracing)", &c.otlpEndpoint},
		{"drain-delay", "SWITCHBOARD_DRAIN_DELAY", "0s", "on shutdown, how long to keep serving with /readyz failing before closing the listener (behind a load balancer: a little more than its health check interval × fall count, e.g. 3s)", &c.drainDelay},
		{"node-dead-after", "SWITCHBOARD_NODE_DEAD_AFTER", "15s", "PostgreSQL: how long a worker node may miss its heartbeat before other nodes take over its running jobs", &c.nodeDeadAfter},
	}, append(append(append(gatewaySettings(c), stripeSettings(c)...), aiSettings(c)...), append(append(webSettings(c), webauthnSettings(c)...), auditSettings(c)...)...)...)
}

type rawConfig struct {
	listen, dataDir, databaseURL, publicURL, tokenKey, secretKey string
	adminEmail, adminPassword, smtpURL, mailFrom, logLevel       string
	logFormat, sqliteSync, maxBody, authRate, trustProxy         string
	maxUpload, apiRateScale, dbMaxConns                          string
	workers, shutdown, nodeDeadAfter, drainDelay, otlpEndpoint   string
	webauthnRPID                                                 string
	auditSigningKey                                              string
	gateway                                                      rawGatewayConfig
	stripe                                                       rawStripeConfig
	ai                                                           rawAIConfig
	web                                                          rawWebConfig
	// from names where each setting's value came from ("--listen" or
	// "SWITCHBOARD_LISTEN"), so an error points at what to fix.
	from map[string]string
}

// Setting is a documented setting, for help output and docs.
type Setting struct{ Flag, Env, Default, Help string }

// Documented lists every setting.
func Documented() []Setting {
	var out []Setting
	for _, s := range settings(&rawConfig{}) {
		out = append(out, Setting{Flag: "--" + s.name, Env: s.env, Default: s.def, Help: s.help})
	}
	return out
}

// Load parses args (without the program and command name) and the
// environment, given as a lookup function. It takes no positional
// arguments.
func Load(fs *flag.FlagSet, args []string, getenv func(string) string) (Config, error) {
	c, rest, err := LoadArgs(fs, args, getenv)
	if err == nil && len(rest) > 0 {
		return Config{}, fmt.Errorf("unexpected argument %q", rest[0])
	}
	return c, err
}

// LoadArgs is Load for commands that take positional arguments: flags may
// come before, between or after them (everything after "--" is
// positional). It returns the positional arguments in order.
//
// Nothing is read from or written to disk here, so `-h` is always safe.
func LoadArgs(fs *flag.FlagSet, args []string, getenv func(string) string) (Config, []string, error) {
	raw := rawConfig{from: map[string]string{}}
	ss := settings(&raw)
	for _, s := range ss {
		// The environment is applied after parsing, not as the flag's
		// default, so `-h` never prints a password or key taken from it.
		fs.StringVar(s.target, s.name, s.def, s.help+" ($"+s.env+")")
	}
	var rest []string
	for {
		if err := fs.Parse(args); err != nil {
			return Config{}, nil, err
		}
		left := fs.Args()
		if len(left) == 0 {
			break
		}
		if consumed := len(args) - len(left); consumed > 0 && args[consumed-1] == "--" {
			rest = append(rest, left...)
			break
		}
		rest = append(rest, left[0])
		args = left[1:]
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for _, s := range ss {
		if set[s.name] {
			raw.from[s.name] = "--" + s.name
		} else if v := getenv(s.env); v != "" {
			*s.target = v
			raw.from[s.name] = s.env
		}
	}
	c, err := raw.validate()
	return c, rest, err
}

// source names where a setting's value came from: its flag, its
// environment variable, or (a default) the flag to set instead.
func (r rawConfig) source(name string) string {
	switch from := r.from[name]; {
	case from == "":
		return "--" + name + " (default)"
	case strings.HasPrefix(from, "--"):
		return from
	default:
		return from + " (environment; flag --" + name + ")"
	}
}

func (r rawConfig) validate() (Config, error) {
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", r.source(name), fmt.Sprintf(format, args...)))
	}
	c := Config{Listen: r.listen, DataDir: r.dataDir, DatabaseURL: r.databaseURL, PublicURL: strings.TrimRight(r.publicURL, "/"),
		TokenKey: r.tokenKey, SecretKey: r.secretKey, AdminEmail: r.adminEmail, AdminPassword: r.adminPassword,
		SMTPURL: r.smtpURL, MailFrom: r.mailFrom, LogLevel: strings.ToLower(r.logLevel), LogFormat: strings.ToLower(r.logFormat),
		SQLiteSynchronous: strings.ToUpper(r.sqliteSync)}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		bad("listen", "%q is not host:port", c.Listen)
	}
	if c.DataDir == "" {
		bad("data-dir", "must not be empty")
	}
	if c.DatabaseURL == "" {
		c.DatabaseURL = filepath.Join(c.DataDir, "switchboard.db")
	} else if !db.IsPostgresURL(c.DatabaseURL) && !strings.HasPrefix(c.DatabaseURL, "sqlite:") && !strings.HasPrefix(c.DatabaseURL, "file:") && strings.Contains(c.DatabaseURL, "://") {
		bad("database-url", "must start with postgres://, postgresql://, sqlite: or be a file path")
	}
	if c.PublicURL == "" {
		c.PublicURL = "http://" + c.Listen
	} else if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("public-url", "%q must be an absolute http(s) URL", c.PublicURL)
	}
	if c.SMTPURL != "" {
		if u, err := url.Parse(c.SMTPURL); err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Host == "" {
			bad("smtp-url", "must look like smtp://user:pass@host:587")
		}
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("log-level", "must be debug, info, warn or error, not %q", r.logLevel)
	}
	if c.LogFormat != "json" && c.LogFormat != "text" {
		bad("log-format", "must be json or text, not %q", r.logFormat)
	}
	if c.SQLiteSynchronous != "NORMAL" && c.SQLiteSynchronous != "FULL" {
		bad("sqlite-synchronous", "must be NORMAL or FULL, not %q", r.sqliteSync)
	}
	var err error
	if c.MaxBodyBytes, err = strconv.ParseInt(r.maxBody, 10, 64); err != nil || c.MaxBodyBytes < 1024 || c.MaxBodyBytes > 1<<30 {
		bad("max-body-bytes", "must be a number of bytes from 1024 to 1073741824")
	}
	if c.MaxUploadBytes, err = strconv.ParseInt(r.maxUpload, 10, 64); err != nil || c.MaxUploadBytes < 1024 || c.MaxUploadBytes > 1<<30 {
		bad("max-upload-bytes", "must be a number of bytes from 1024 to 1073741824")
	}
	if c.AuthRateLimit, err = strconv.Atoi(r.authRate); err != nil || c.AuthRateLimit < 1 {
		bad("auth-rate-limit", "must be a positive whole number")
	}
	if c.APIRateLimitScale, err = strconv.ParseFloat(r.apiRateScale, 64); err != nil || !(c.APIRateLimitScale > 0 && c.APIRateLimitScale <= 1e6) {
		bad("api-rate-limit-scale", "must be a number above 0 and at most 1000000, such as 1 or 2.5")
	}
	if c.TrustProxy, err = strconv.ParseBool(r.trustProxy); err != nil {
		bad("trust-proxy", "must be true or false")
	}
	if n, err := strconv.ParseInt(r.dbMaxConns, 10, 32); err != nil || n < 0 || n > 1000 {
		bad("database-max-conns", "must be a whole number from 0 to 1000")
	} else {
		c.DatabaseMaxConns = int32(n)
	}
	if c.Workers, err = strconv.ParseBool(r.workers); err != nil {
		bad("workers", "must be true or false")
	}
	if c.ShutdownTimeout, err = time.ParseDuration(r.shutdown); err != nil || c.ShutdownTimeout <= 0 {
		bad("shutdown-timeout", "must be a duration such as 15s")
	}
	if c.OTLPEndpoint = strings.TrimSpace(r.otlpEndpoint); c.OTLPEndpoint != "" {
		if u, err := url.Parse(c.OTLPEndpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("otlp-endpoint", "must be an http(s) URL such as http://otel-collector:4318")
		}
	}
	if c.DrainDelay, err = time.ParseDuration(r.drainDelay); err != nil || c.DrainDelay < 0 || c.DrainDelay > 5*time.Minute {
		bad("drain-delay", "must be a duration from 0s to 5m, such as 3s")
	}
	if c.NodeDeadAfter, err = time.ParseDuration(r.nodeDeadAfter); err != nil || c.NodeDeadAfter < 3*time.Second || c.NodeDeadAfter > time.Hour {
		bad("node-dead-after", "must be a duration from 3s to 1h, such as 15s")
	}
	c.Gateway = r.gateway.validate(bad)
	c.Stripe = r.stripe.validate(bad)
	c.AI = r.ai.validate(bad)
	c.MetricsAddr, c.CORSOrigins = r.web.validate(bad, c.Listen)
	c.WebAuthnRPID = validateRPID(bad, r.webauthnRPID, c.PublicURL)
	validateKeys(bad, c.TokenKey, c.SecretKey)
	c.AuditSigningKey = r.auditSigningKey
	validateAuditKey(bad, c.AuditSigningKey)
	if len(errs) > 0 {
		return Config{}, errors.Join(errs...)
	}
	return c, nil
}
