// Package app wires one Switchboard node: configuration → database →
// services → HTTP server (and, later, background workers).
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/audit"
	"github.com/switchboard/switchboard/internal/auth"
	"github.com/switchboard/switchboard/internal/billing"
	"github.com/switchboard/switchboard/internal/config"
	"github.com/switchboard/switchboard/internal/credit"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/events"
	"github.com/switchboard/switchboard/internal/flag"
	"github.com/switchboard/switchboard/internal/gateway"
	"github.com/switchboard/switchboard/internal/httpapi"
	"github.com/switchboard/switchboard/internal/idempotency"
	"github.com/switchboard/switchboard/internal/jobs"
	"github.com/switchboard/switchboard/internal/lograte"
	"github.com/switchboard/switchboard/internal/mail"
	"github.com/switchboard/switchboard/internal/org"
	"github.com/switchboard/switchboard/internal/plugin/analytics"
	"github.com/switchboard/switchboard/internal/plugin/install"
	"github.com/switchboard/switchboard/internal/plugin/market"
	"github.com/switchboard/switchboard/internal/plugin/schedule"
	"github.com/switchboard/switchboard/internal/plugin/wasm"
	"github.com/switchboard/switchboard/internal/ratelimit"
	"github.com/switchboard/switchboard/internal/secret"
	"github.com/switchboard/switchboard/internal/telemetry"
	"github.com/switchboard/switchboard/internal/web"
	"github.com/switchboard/switchboard/internal/workflow"
)

// Version is the build's version, set with -ldflags "-X …/app.Version=…".
var Version = "dev"

// App is a wired node.
type App struct {
	// draining is set once shutdown has begun (see Config.DrainDelay).
	draining atomic.Bool
	// stopTracing flushes the spans the OTLP exporter still holds.
	stopTracing func(context.Context) error
	// stopCacheSweep ends the plugin compilation cache's sweep and waits
	// for it (Start).
	stopCacheSweep func()

	Config config.Config
	Log    *slog.Logger
	DB     *db.DB
	Mail   mail.Sender
	Auth   *auth.Service
	Audit  *audit.Service
	Flags  *flag.Service
	Orgs   *org.Service
	Jobs   *jobs.Runner
	HTTP   *httpapi.Server
	// Handler is what the node serves: the dashboard in front of HTTP.
	Handler http.Handler
	// Gateways owns gateways; Secrets is the credential-sealing keyring.
	Gateways *gateway.Service
	Secrets  *secret.Keyring
	// Credits owns balances and the ledger, Limits usage against plans,
	// Billing Stripe.
	Credits *credit.Service
	Limits  *credit.Limits
	Billing *billing.Service
	// Market is the plugin marketplace, Installs the workspaces' installed
	// plugins, Wasm the sandbox engine.
	Market   *market.Service
	Installs *install.Service
	Wasm     *wasm.Engine
	// Analytics keeps the analytics built-in's counters.
	Analytics *analytics.Service
	// Workflows is the workflow engine.
	Workflows *workflow.Service
	// Events sends signed events to subscribed URLs.
	Events *events.Service
	// Scheduler fires the scheduler built-in's schedules.
	Scheduler *schedule.Service
	// APINodes counts the nodes sharing the API rate limits.
	APINodes *ratelimit.Nodes
}

// Options adjust wiring for embedding (tests, benchmarks); production uses
// the zero value.
type Options struct {
	// HashParams overrides the password hashing cost.
	HashParams auth.HashParams
	// Gateway tunes the gateway service (retry timing in tests).
	Gateway gateway.Options
	// Events tunes event deliveries (retry timing in tests).
	Events events.Options
	// RateLimitClock is the clock of the API rate limits (default
	// time.Now).
	RateLimitClock func() time.Time
	// ScheduleClock is the clock of the workflow schedule sweeps (default
	// the database's).
	ScheduleClock func() time.Time
	// DBTimeout bounds each wait on the database (0: db.DefaultTimeout,
	// 3 s), after which a request answers 503 and a job is retried.
	DBTimeout time.Duration
	// TracerProvider receives the node's spans (default: an OTLP exporter
	// when --otlp-endpoint is set, else none).
	TracerProvider trace.TracerProvider
}

// NewLogger builds the process logger from the configuration.
func NewLogger(w io.Writer, c config.Config) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewJSONHandler(w, opts)
	if c.LogFormat == "text" {
		h = slog.NewTextHandler(w, opts)
	}
	h = telemetry.LogHandler(h)
	// An outage makes every request fail alike: keep ten of each warning
	// or error per ten seconds and count the rest.
	return slog.New(lograte.New(h, 10, 10*time.Second))
}

// OpenDB opens and migrates the configured database.
func OpenDB(ctx context.Context, c config.Config) (*db.DB, error) {
	return openDB(ctx, c, 0)
}

// openDB is OpenDB with a bound on each wait on the database (0: the
// default, db.DefaultTimeout).
func openDB(ctx context.Context, c config.Config, timeout time.Duration) (*db.DB, error) {
	d, err := db.Open(ctx, c.DatabaseURL, db.Options{Synchronous: c.SQLiteSynchronous, Timeout: timeout, MaxConns: c.DatabaseMaxConns})
	if err != nil {
		return nil, err
	}
	if _, err := d.Migrate(ctx); err != nil {
		d.Close()
		return nil, err
	}
	if err := jobs.Migrate(ctx, d); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// New opens the database, applies migrations and builds every service.
func New(ctx context.Context, c config.Config, log *slog.Logger, opt Options) (*App, error) {
	tokenKey, err := config.LoadOrCreateKey(c.TokenKey, c.DataDir, "token.key", 32)
	if err != nil {
		return nil, fmt.Errorf("token signing key: %w", err)
	}
	keys, err := secret.Load(c.SecretKey, c.DataDir)
	if err != nil {
		return nil, fmt.Errorf("secret sealing keys: %w", err)
	}
	// Loaded now so that a missing key file is generated, and a bad one
	// refused, before anything serves; the sweep re-reads it on each run.
	if _, err := c.AuditKeys().Load(); err != nil {
		return nil, fmt.Errorf("audit signing keys: %w", err)
	}
	for _, w := range c.ClusterWarnings() {
		log.Warn(w)
	}
	d, err := openDB(ctx, c, opt.DBTimeout)
	if err != nil {
		return nil, err
	}
	var sender mail.Sender
	if c.SMTPURL != "" {
		if sender, err = mail.NewSMTP(c.SMTPURL, c.MailFrom); err != nil {
			d.Close()
			return nil, err
		}
	} else if sender, err = mail.NewOutbox(filepath.Join(c.DataDir, "mail"), c.MailFrom); err != nil {
		d.Close()
		return nil, err
	}
	runner := jobs.NewRunner(d, jobs.Config{Work: c.Workers, Log: log, NodeDeadAfter: c.NodeDeadAfter})
	metrics := telemetry.New()
	if d.Dialect == db.SQLite {
		metrics.WatchGroupCommit(d.GroupCommits)
	}
	tp := opt.TracerProvider
	var stopTracing func(context.Context) error
	if tp == nil && c.OTLPEndpoint != "" {
		otlp, err := telemetry.OTLPProvider(ctx, c.OTLPEndpoint, Version)
		if err != nil {
			d.Close()
			return nil, err
		}
		// Outbound HTTP clients (safehttp) take the global provider.
		otel.SetTracerProvider(otlp)
		tp, stopTracing = otlp, otlp.Shutdown
	}
	if tp != nil {
		metrics.SetTracerProvider(tp)
	}
	runner.SetMetrics(metrics)
	// Mail leaves through sealed jobs inserted with the change that causes it.
	mailQueue := mail.NewQueue(runner, keys, sender, log)
	authSvc, err := auth.New(d, mailQueue, log, auth.Config{PublicURL: c.PublicURL, SigningKey: tokenKey, Hash: opt.HashParams,
		WebAuthnRPID: c.WebAuthnRPID, Keys: keys})
	if err != nil {
		d.Close()
		return nil, err
	}
	auditSvc := audit.NewService(d)
	auditSvc.SetSigningKeys(c.AuditKeys())
	audit.RegisterJobs(runner, d, c.AuditKeys(), log)
	// The flag refresher lives as long as the App: it starts here, loaded,
	// and stops in Close. It does not end with ctx, which may be only the
	// context of starting up.
	flags := flag.NewService(d, log, flag.Options{})
	if err := flags.Start(context.WithoutCancel(ctx)); err != nil {
		d.Close()
		return nil, err
	}
	orgs := org.New(d, mailQueue, authSvc, log, c.PublicURL)
	authSvc.RegisterJobs(runner)
	gateways, err := newGateways(ctx, c, d, keys, runner, log, opt.Gateway)
	if err != nil {
		flags.Close()
		d.Close()
		return nil, err
	}
	eventsSvc, err := newEvents(ctx, c, d, runner, keys, log, opt.Events)
	if err != nil {
		flags.Close()
		d.Close()
		return nil, err
	}
	credits, limits, billingSvc := newBilling(c, d, authSvc, orgs, runner, eventsSvc, log)
	wireEvents(eventsSvc, authSvc, gateways, credits)
	wasmEngine, marketSvc, installs, err := newPlugins(d, runner, gateways, log, pluginCacheDir(c.DataDir))
	if err != nil {
		flags.Close()
		d.Close()
		return nil, err
	}
	pruneEngineCache(ctx, marketSvc, log)
	installs.SetMeter(limits)
	// Installation secrets are sealed with the same keyring as gateway
	// credentials; refuse to start if some are under a key we lack.
	installs.SetKeys(keys)
	if err := secret.CheckKeys(ctx, keys, installs.SecretStore(), auth.TOTPSecretStore(d)); err != nil {
		flags.Close()
		d.Close()
		return nil, err
	}
	analyticsSvc := registerAnalytics(marketSvc.Registry(), d, runner, installs, log)
	if err := registerAIReply(marketSvc.Registry(), c, credits, limits, log); err != nil {
		flags.Close()
		d.Close()
		return nil, err
	}
	scheduler := registerScheduler(marketSvc.Registry(), d, runner, gateways, log)
	if err := registerHTTPRequest(marketSvc.Registry(), c); err != nil {
		flags.Close()
		d.Close()
		return nil, err
	}
	limits.RegisterCounter(actor.ActionCreateGateway, gateway.Count)
	runner.SetPriorityCharger(credits.ChargePriorityTx)
	limits.RegisterCounter(actor.ActionInstallPlugin, install.Count)
	limits.RegisterResource(credit.CountedResource{Metric: events.UsageMetric, Limit: events.Limit, Count: events.Count})
	workflows, err := newWorkflows(ctx, c, d, runner, installs, gateways, limits, keys, eventsSvc, log)
	if err != nil {
		flags.Close()
		d.Close()
		return nil, err
	}
	workflows.Metrics = metrics
	if d.Dialect == db.Postgres {
		// PostgreSQL's counterpart of group commit: runs written by one
		// statement (internal/workflow/hookalone.go).
		metrics.WatchGroupCommit(workflows.BatchedRuns)
	}
	gateways.SetMetrics(metrics)
	credits.SetMetrics(metrics)
	wasmEngine.SetMetrics(metrics)
	if opt.ScheduleClock != nil {
		workflows.SetScheduleClock(opt.ScheduleClock)
	}
	idem := idempotency.New(d, log)
	idem.RegisterJobs(runner)
	wireLifecycle(authSvc, orgs, workflows, gateways, installs, scheduler, eventsSvc)
	// Every service has registered its workers by now.
	if err := runner.Open(); err != nil {
		flags.Close()
		d.Close()
		return nil, err
	}
	a := &App{stopTracing: stopTracing, Config: c, Log: log, DB: d, Mail: sender, Auth: authSvc, Audit: auditSvc, Flags: flags, Orgs: orgs, Jobs: runner}
	a.APINodes = ratelimit.NewNodes(d, log)
	apiLimiter := ratelimit.NewLocal(ratelimit.LocalOptions{Now: opt.RateLimitClock, Nodes: a.APINodes.Count})
	a.HTTP = httpapi.New(httpapi.Deps{Log: log, Metrics: metrics, Auth: authSvc, Audit: auditSvc, Flags: flags, Orgs: orgs, Gateways: gateways, Limiter: ratelimit.New(d), Ready: a.ready,
		Credits: credits, Limits: limits, Billing: billingSvc, Market: marketSvc, Installs: installs, Analytics: analyticsSvc, Workflows: workflows,
		Idempotency: idem, APILimiter: apiLimiter, System: jobs.NewSystemStatus(d), Events: eventsSvc},
		httpapi.Options{TrustProxy: c.TrustProxy, MaxBodyBytes: c.MaxBodyBytes, MaxUploadBytes: c.MaxUploadBytes, AuthRateLimit: c.AuthRateLimit,
			APIRateLimitScale: c.APIRateLimitScale, Version: Version, PublicURL: c.PublicURL,
			SeparateMetrics: c.MetricsAddr != "", CORSOrigins: c.CORSOrigins})
	dashboard, err := web.New(a.HTTP)
	if err != nil {
		flags.Close()
		d.Close()
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	a.Handler = dashboard
	a.Gateways, a.Secrets = gateways, keys
	a.Credits, a.Limits, a.Billing = credits, limits, billingSvc
	a.Market, a.Installs, a.Wasm = marketSvc, installs, wasmEngine
	a.Workflows = workflows
	a.Events = eventsSvc
	a.Scheduler = scheduler
	a.Analytics = analyticsSvc
	return a, nil
}

// ready answers /readyz: not while draining, nor without the database.
func (a *App) ready(ctx context.Context) error {
	if a.draining.Load() {
		return httpapi.ErrDraining
	}
	return a.DB.Ping(ctx)
}

// Start starts the node's background work (job workers).
func (a *App) Start(ctx context.Context) error {
	if err := a.Jobs.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("start jobs: %w", err)
	}
	if a.Config.Workers {
		a.Workflows.Start(ctx)
		a.Gateways.StartPolling(ctx)
	}
	// Every node serving the API counts toward the split of its limits,
	// and hears of run checkpoints for the run streams it serves.
	a.APINodes.Start(ctx)
	a.Workflows.Listen(ctx)
	if a.stopCacheSweep == nil {
		// A version yanked on another node leaves this one's disk cache
		// within a sweep (market.SweepEngineCache).
		sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		done := make(chan struct{})
		go func() { defer close(done); a.Market.SweepEngineCache(sctx, a.Log) }()
		a.stopCacheSweep = func() { cancel(); <-done }
	}
	return nil
}

// Serve starts background work, serves HTTP on ln until ctx ends, then
// drains in-flight requests and running jobs for up to the configured
// shutdown timeout.
func (a *App) Serve(ctx context.Context, ln net.Listener) error {
	if err := a.Start(ctx); err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           a.Handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      120 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(a.Log.Handler(), slog.LevelWarn),
	}
	// Run streams last as long as their runs: a shutdown ends them rather
	// than wait for them.
	srv.RegisterOnShutdown(a.HTTP.CloseStreams)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	if d := a.Config.DrainDelay; d > 0 {
		// Out of the load balancer's rotation first, still answering
		// whatever it sends meanwhile; each answer closes its connection,
		// so none is left idle to be cut when the listener closes.
		a.draining.Store(true)
		srv.SetKeepAlivesEnabled(false)
		a.Log.Info("draining before shutdown", "for", d.String())
		time.Sleep(d)
	}
	timeout := a.Config.ShutdownTimeout
	if timeout <= 0 {
		timeout = 15 * time.Second
	}
	sctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := a.Jobs.Stop(sctx); err != nil {
		a.Log.Warn("stop jobs", "error", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Close stops the jobs and the flag refresher and closes the database.
func (a *App) Close() error {
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	a.Workflows.Stop()
	a.Workflows.StopListening()
	a.Gateways.StopPolling()
	_ = a.Jobs.Stop(sctx)
	a.Limits.Close(sctx) // gives back unspent execution leases
	a.APINodes.Stop(sctx)
	a.Flags.Close()
	if a.stopCacheSweep != nil {
		a.stopCacheSweep()
	}
	if a.Wasm != nil {
		_ = a.Wasm.Close(sctx)
	}
	if a.stopTracing != nil {
		_ = a.stopTracing(sctx)
	}
	return a.DB.Close()
}
