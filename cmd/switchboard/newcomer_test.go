package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/db/dbtest"
)

func TestCLI_HelpCreatesNothing(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"-h"}, {"help"}, {"serve", "-h"}, {"serve", "--help"}, {"migrate", "-h"}, {"migrate", "status", "-h"},
		{"admin", "-h"}, {"admin", "create", "-h"}, {"audit", "--help"}, {"audit", "verify", "-h"},
		{"keys", "-h"}, {"keys", "status", "-h"}, {"keys", "rotate", "--help"}, {"keys", "generate", "-h"},
		{"keys", "prune", "-h"}, {"keys", "prune", "--help"}, {"keys", "prune", "key_0123", "-h"},
	} {
		dir := filepath.Join(t.TempDir(), "data")
		r := runCLI(t, map[string]string{"SWITCHBOARD_DATA_DIR": dir}, args...)
		if r.code != 0 {
			t.Errorf("%q: exit %d: %s", args, r.code, r.stderr)
		}
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("%q created the data dir (%v)", args, err)
		}
		if args[0] == "keys" && len(args) > 1 && args[1] == "generate" && strings.TrimSpace(r.stdout) != "" {
			t.Errorf("keys generate -h printed a key: %q", r.stdout)
		}
	}
}

func TestCLI_KeysPruneTakesFlagsAnywhere(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		dir := t.TempDir()
		env := map[string]string{"SWITCHBOARD_LOG_LEVEL": "error"}
		cfg := []string{"--data-dir", dir, "--database-url", url}
		r := runCLI(t, env, append([]string{"keys", "status"}, cfg...)...)
		if r.code != 0 {
			t.Fatalf("keys status: %+v", r)
		}
		first := strings.Fields(r.stdout)[0]
		if r = runCLI(t, env, append(append([]string{"keys", "rotate"}, cfg...), "--batch", "5")...); r.code != 0 {
			t.Fatalf("keys rotate: %+v", r)
		}
		second := strings.Fields(runCLI(t, env, append([]string{"keys", "status"}, cfg...)...).stdout)[0]
		if r = runCLI(t, env, append([]string{"keys", "rotate"}, cfg...)...); r.code != 0 {
			t.Fatalf("keys rotate: %+v", r)
		}
		// Flags before the key id, then after it.
		if r = runCLI(t, env, append(append([]string{"keys", "prune"}, cfg...), first)...); r.code != 0 || !strings.Contains(r.stdout, "removed key "+first) {
			t.Fatalf("keys prune with flags first: %+v", r)
		}
		if r = runCLI(t, env, "keys", "prune", second, "--data-dir", dir, "--database-url", url); r.code != 0 || !strings.Contains(r.stdout, "removed key "+second) {
			t.Fatalf("keys prune with flags last: %+v", r)
		}
		status := runCLI(t, env, append([]string{"keys", "status"}, cfg...)...).stdout
		if strings.Contains(status, first) || strings.Contains(status, second) {
			t.Errorf("pruned keys still listed: %s", status)
		}
		if r = runCLI(t, env, append([]string{"keys", "prune"}, cfg...)...); r.code != 2 {
			t.Errorf("prune without a key id: %+v", r)
		}
		if r = runCLI(t, env, append([]string{"keys", "prune", "a", "b"}, cfg...)...); r.code != 2 {
			t.Errorf("prune with two key ids: %+v", r)
		}
		// migrate takes its subcommand after flags too.
		if r = runCLI(t, env, append([]string{"migrate"}, append(cfg, "status")...)...); r.code != 0 || !strings.Contains(r.stdout, "applied") {
			t.Errorf("migrate --data-dir … status: %+v", r)
		}
	})
}

func TestCLI_ConfigErrorsNameTheirSource(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	env := map[string]string{"SWITCHBOARD_DATA_DIR": dir, "SWITCHBOARD_LOG_LEVEL": "loud", "SWITCHBOARD_TOKEN_KEY": "short"}
	r := runCLI(t, env, "serve", "--listen", "nonsense", "--cors-origins", "*")
	if r.code != 2 {
		t.Fatalf("bad config: %+v", r)
	}
	for _, want := range []string{"SWITCHBOARD_LOG_LEVEL", "SWITCHBOARD_TOKEN_KEY", "--listen", "--cors-origins"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("error does not name %s: %s", want, r.stderr)
		}
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("a refused configuration created the data dir (%v)", err)
	}
	r = runCLI(t, map[string]string{"SWITCHBOARD_DATA_DIR": dir}, "audit", "verify", "extra")
	if r.code != 2 || !strings.Contains(r.stderr, `audit verify: unexpected argument "extra"`) {
		t.Errorf("stray argument: %+v", r)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("a stray argument created the data dir (%v)", err)
	}
}

func TestCLI_VersionPrintsBuildInformation(t *testing.T) {
	t.Parallel()
	var out strings.Builder
	printVersion(&out, &debug.BuildInfo{GoVersion: "go1.26.8",
		Main: debug.Module{Path: "github.com/switchboard/switchboard", Version: "v1.4.0"},
		Settings: []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
			{Key: "vcs.time", Value: "2026-12-06T12:00:00Z"}, {Key: "vcs.modified", Value: "true"}}}, true)
	for _, want := range []string{"switchboard ", "github.com/switchboard/switchboard v1.4.0",
		"revision: 0123456789abcdef0123456789abcdef01234567", "time:     2026-12-06T12:00:00Z", "modified: true", "go1.26.8"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("version output lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	printVersion(&out, &debug.BuildInfo{Main: debug.Module{Path: "github.com/switchboard/switchboard", Version: "(devel)"}}, true)
	if !strings.Contains(out.String(), "revision: unknown") {
		t.Errorf("no VCS information: %s", out.String())
	}
	// The command itself prints what this binary knows.
	if r := runCLI(t, nil, "version"); r.code != 0 || !strings.Contains(r.stdout, "revision:") || !strings.Contains(r.stdout, "module:") {
		t.Errorf("version: %+v", r)
	}
}

func TestCLI_ServeMetricsOnTheirOwnAddress(t *testing.T) {
	t.Parallel()
	env := map[string]string{"SWITCHBOARD_DATA_DIR": t.TempDir(), "SWITCHBOARD_LISTEN": "127.0.0.1:0",
		"SWITCHBOARD_METRICS_ADDR": "127.0.0.1:0", "SWITCHBOARD_ADMIN_PASSWORD": "correct horse battery"}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb syncBuf
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"serve"}, func(k string) string { return env[k] }, &out, &errb) }()
	re := regexp.MustCompile(`"listen":"([^"]+)".*"metrics":"([^"]+)"`)
	var m []string
	for deadline := time.Now().Add(60 * time.Second); m == nil; time.Sleep(10 * time.Millisecond) {
		m = re.FindStringSubmatch(errb.String())
		select {
		case code := <-done:
			t.Fatalf("serve exited %d: %s", code, errb.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("server did not start: %s", errb.String())
		}
	}
	fetch := func(url string) (int, string) {
		res, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if code, body := fetch("http://" + m[2] + "/metrics"); code != http.StatusOK || !strings.Contains(body, "go_goroutines") {
		t.Errorf("metrics address: %d %.200s", code, body)
	}
	if code, _ := fetch("http://" + m[1] + "/metrics"); code != http.StatusNotFound {
		t.Errorf("/metrics on the main address: %d", code)
	}
	if code, _ := fetch("http://" + m[1] + "/healthz"); code != http.StatusOK {
		t.Errorf("/healthz: %d", code)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("serve exited %d: %s", code, errb.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatal("serve did not stop on cancel")
	}
}
