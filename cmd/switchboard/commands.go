package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"runtime/debug"
	"time"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/app"
	"github.com/switchboard/switchboard/internal/config"
)

func version() string {
	if app.Version != "dev" {
		return app.Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return app.Version
}

func loadConfig(name string, args []string, getenv func(string) string, stderr io.Writer, extra func(*flag.FlagSet)) (config.Config, error) {
	c, rest, err := loadConfigArgs(name, args, getenv, stderr, extra)
	if err == nil && len(rest) > 0 {
		return c, exitError{code: 2, msg: fmt.Sprintf("%s: unexpected argument %q", name, rest[0])}
	}
	return c, err
}

// loadConfigArgs parses a command's flags, wherever they stand among its
// positional arguments, and returns those arguments. It touches no file:
// commands read or create the data dir only after it succeeded, so `-h`
// creates nothing.
func loadConfigArgs(name string, args []string, getenv func(string) string, stderr io.Writer, extra func(*flag.FlagSet)) (config.Config, []string, error) {
	fs := flag.NewFlagSet("switchboard "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	if extra != nil {
		extra(fs)
	}
	c, rest, err := config.LoadArgs(fs, args, getenv)
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		return c, nil, exitError{code: 2, msg: "configuration: " + err.Error()}
	}
	return c, rest, err
}

// isHelp reports whether arg asks for a command's usage.
func isHelp(arg string) bool {
	return arg == "-h" || arg == "-help" || arg == "--help" || arg == "help"
}

func cmdServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c, err := loadConfig("serve", args, getenv, stderr, nil)
	if err != nil {
		return err
	}
	log := app.NewLogger(stderr, c)
	start := time.Now()
	ln, err := net.Listen("tcp", c.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", c.Listen, err)
	}
	metricsLn, err := listenMetrics(c)
	if err != nil {
		ln.Close()
		return err
	}
	closeListeners := func() {
		ln.Close()
		if metricsLn != nil {
			metricsLn.Close()
		}
	}
	a, err := app.New(ctx, c, log, app.Options{})
	if err != nil {
		closeListeners()
		return err
	}
	defer a.Close()
	created, generated, err := a.Auth.EnsureAdmin(ctx, c.AdminEmail, c.AdminPassword)
	if err != nil {
		closeListeners()
		return err
	}
	if created {
		email := c.AdminEmail
		if email == "" {
			email = "admin@switchboard.local"
		}
		if generated != "" {
			fmt.Fprintf(stdout, "\nCreated the first SUPER_ADMIN.\n  email:    %s\n  password: %s\nThis password is shown once; change it after signing in.\n\n", email, generated)
		} else {
			log.Info("created the first SUPER_ADMIN", "email", email)
		}
	}
	// Start-up allocates once (migrations, the first admin's password hash);
	// hand that memory back now rather than carry it while idle.
	debug.FreeOSMemory()
	metricsAt := "on listen"
	if metricsLn != nil {
		metricsAt = metricsLn.Addr().String()
		defer serveMetrics(metricsLn, a.HTTP.MetricsHandler(), log)()
	}
	log.Info("serving", "listen", ln.Addr().String(), "publicUrl", c.PublicURL, "database", dbKind(c.DatabaseURL),
		"metrics", metricsAt, "version", app.Version, "startup", time.Since(start).String())
	return a.Serve(ctx, ln)
}

func dbKind(u string) string {
	if len(u) > 8 && (u[:9] == "postgres:" || u[:11] == "postgresql:") {
		return "postgres"
	}
	return "sqlite:" + u
}

func cmdMigrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c, rest, err := loadConfigArgs("migrate", args, getenv, stderr, nil)
	if err != nil {
		return err
	}
	sub := "up"
	if len(rest) > 0 {
		sub, rest = rest[0], rest[1:]
	}
	if (sub != "up" && sub != "status") || len(rest) > 0 {
		return exitError{code: 2, msg: "usage: switchboard migrate [up|status] [flags]"}
	}
	if sub == "up" {
		d, err := app.OpenDB(ctx, c)
		if err != nil {
			return err
		}
		defer d.Close()
		fmt.Fprintln(stdout, "migrations applied")
		return printStatus(ctx, d.MigrationStatus, stdout)
	}
	d, err := openNoMigrate(ctx, c)
	if err != nil {
		return err
	}
	defer d.Close()
	return printStatus(ctx, d.MigrationStatus, stdout)
}

func cmdAdmin(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	const adminUsage = "usage: switchboard admin create --email E --password P [--name N] [flags]"
	if len(args) > 0 && isHelp(args[0]) {
		fmt.Fprintln(stdout, adminUsage)
		return nil
	}
	if len(args) == 0 || args[0] != "create" {
		return exitError{code: 2, msg: adminUsage}
	}
	var email, password, name string
	c, err := loadConfig("admin create", args[1:], getenv, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&email, "email", "", "the new SUPER_ADMIN's email (required)")
		fs.StringVar(&password, "password", "", "the new SUPER_ADMIN's password, 8–128 characters (required)")
		fs.StringVar(&name, "name", "Administrator", "display name")
	})
	if err != nil {
		return err
	}
	if email == "" || password == "" {
		return exitError{code: 2, msg: "admin create: --email and --password are required"}
	}
	a, err := app.New(ctx, c, app.NewLogger(stderr, c), app.Options{})
	if err != nil {
		return err
	}
	defer a.Close()
	u, err := a.Auth.CreateAdmin(ctx, actor.Actor{System: true, UserAgent: "switchboard admin create"}, email, name, password)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "created SUPER_ADMIN %s (%s)\n", u.Email, u.ID)
	return nil
}
