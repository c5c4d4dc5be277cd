package wasm_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/plugin/wasm"
	"github.com/switchboard/switchboard/internal/plugin/wasm/wasmtest"
)

func TestParseManifest_AllowedHosts(t *testing.T) {
	t.Parallel()
	withHosts := func(perms string, hosts ...string) string {
		h, _ := json.Marshal(hosts)
		return fmt.Sprintf(`{"slug":"abc","name":"n","version":"1.0.0","permissions":%s,"allowedHosts":%s}`, perms, h)
	}
	m, err := wasm.ParseManifest(json.RawMessage(withHosts(`["http"]`, "API.Example.com.", "*.example.org", "localhost", "xn--bcher-kva.example")))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(m.AllowedHosts, " "); got != "api.example.com *.example.org localhost xn--bcher-kva.example" {
		t.Fatalf("normalised hosts: %s", got)
	}
	for _, tc := range []struct{ raw, want string }{
		{withHosts(`["http"]`), `the "http" permission needs at least one host`},
		{withHosts(`["log"]`, "api.example.com"), `only plugins asking for the "http" permission list hosts`},
		{withHosts(`["http"]`, "10.0.0.1"), "is an IP address"},
		{withHosts(`["http"]`, "8.8.8.8"), "is an IP address"},
		{withHosts(`["http"]`, "[::1]"), "is an IP address"},
		{withHosts(`["http"]`, "*.169.254.169.254"), "is an IP address"},
		{withHosts(`["http"]`, "0x7f.1"), "a numeric last label"},
		{withHosts(`["http"]`, "*.com"), "a wildcard needs a domain of at least two labels"},
		{withHosts(`["http"]`, "*"), "is not a host name"},
		{withHosts(`["http"]`, "api.*.example.com"), "is not a host name"},
		{withHosts(`["http"]`, "api.example.com:8080"), "no ports, paths or schemes"},
		{withHosts(`["http"]`, "https://api.example.com"), "no ports, paths or schemes"},
		{withHosts(`["http"]`, "-bad.example.com"), "is not a host name"},
		{withHosts(`["http"]`, "a..example.com"), "is not a host name"},
		{withHosts(`["http"]`, "api.example.com", "API.example.com"), "is listed twice"},
		{withHosts(`["http"]`, strings.Split(strings.Repeat("h.example.com ", 51), " ")[:51]...), "at most 50 hosts"},
	} {
		_, err := wasm.ParseManifest(json.RawMessage(tc.raw))
		if msgs := fieldMessages(err, "manifest.allowedHosts"); !strings.Contains(msgs, tc.want) {
			t.Errorf("%s: want an allowedHosts error %q, got %v", tc.raw, tc.want, err)
		}
	}
}

// fieldMessages joins the messages of err's field errors on field.
func fieldMessages(err error, field string) string {
	ae, ok := err.(*apperr.Error)
	if !ok {
		return ""
	}
	d, _ := ae.Details.(map[string]any)
	fields, _ := d["fields"].([]apperr.FieldError)
	var out []string
	for _, f := range fields {
		if f.Field == field {
			out = append(out, f.Message)
		}
	}
	return strings.Join(out, "; ")
}

func TestCheck_NetworkHostFunctionsNeedTheirPermissions(t *testing.T) {
	t.Parallel()
	e := newEngine(t, wasm.Options{})
	mod := wasmtest.Build(t, "./internal/plugin/wasm/testdata/hostcalls")
	used, err := e.Check(context.Background(), mod, []string{wasm.CapHTTP, wasm.CapGatewaySend})
	sort.Strings(used)
	if err != nil || strings.Join(used, ",") != "gateway_send,http_request,http_response" {
		t.Fatalf("used %v, err %v", used, err)
	}
	for _, tc := range []struct {
		perms []string
		want  string
	}{
		{[]string{wasm.CapGatewaySend}, `imports switchboard.http_request, which needs permission "http"`},
		{[]string{wasm.CapHTTP}, `imports switchboard.gateway_send, which needs permission "gateway.send"`},
	} {
		if _, err := e.Check(context.Background(), mod, tc.perms); !apperr.Is(err, apperr.Validation) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("perms %v: want %q, got %v", tc.perms, tc.want, err)
		}
	}
}
