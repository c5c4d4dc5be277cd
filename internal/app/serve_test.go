package app_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/app"
	"github.com/switchboard/switchboard/internal/app/apptest"
	"github.com/switchboard/switchboard/internal/config"
	"github.com/switchboard/switchboard/internal/db/dbtest"
)

// A stopping node with a drain delay fails /readyz at once, so a load
// balancer takes it out of rotation, and answers what still comes in the
// meantime — each answer closing its connection — before it closes the
// listener.
func TestServe_DrainsBeforeClosing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c := config.Config{Listen: "127.0.0.1:0", DataDir: dir, DatabaseURL: dbtest.SQLite().URL(t), PublicURL: "https://switchboard.test",
		MailFrom: "Switchboard <no-reply@switchboard.test>", LogLevel: "warn", LogFormat: "json", SQLiteSynchronous: "NORMAL",
		MaxBodyBytes: 1 << 20, AuthRateLimit: 1000, APIRateLimitScale: 1, ShutdownTimeout: 5 * time.Second, DrainDelay: 2 * time.Second}
	a, err := app.New(context.Background(), c, app.NewLogger(io.Discard, c), apptest.FastHashing)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- a.Serve(ctx, ln) }()

	get := func(path string) (*http.Response, string) {
		t.Helper()
		res, err := http.Get(base + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res, string(b)
	}
	if res, _ := get("/readyz"); res.StatusCode != http.StatusOK {
		t.Fatalf("/readyz before shutdown: %d", res.StatusCode)
	}
	stopped := time.Now()
	stop()
	deadline := time.Now().Add(time.Second)
	for {
		res, body := get("/readyz")
		if res.StatusCode == http.StatusServiceUnavailable && strings.Contains(body, "draining") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz while draining: %d %s", res.StatusCode, body)
		}
		time.Sleep(10 * time.Millisecond)
	}
	res, _ := get("/healthz")
	if res.StatusCode != http.StatusOK || !res.Close {
		t.Fatalf("a request while draining: %d, connection closed after it: %v", res.StatusCode, res.Close)
	}
	if err := <-served; err != nil {
		t.Fatalf("serve: %v", err)
	}
	if waited := time.Since(stopped); waited < c.DrainDelay {
		t.Fatalf("the listener closed %s after the stop, before the drain delay of %s", waited, c.DrainDelay)
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Fatal("the node still answers after shutdown")
	}
}
