package main

import (
	"strings"
	"testing"
)

const stream = `{"config":{"scanner_name":"govulncheck"}}
{"osv":{"id":"GO-2026-0001","summary":"std bug"}}
{"osv":{"id":"GO-2026-0002","summary":"module bug"}}
{"osv":{"id":"GO-2026-0003","summary":"imported, not called"}}
{"finding":{"osv":"GO-2026-0001","fixed_version":"v1.26.10","trace":[{"module":"stdlib","version":"v1.26.8","package":"net/http","function":"Serve"},{"module":"github.com/switchboard/switchboard","package":"x","function":"Run","position":{"filename":"internal/x/x.go","line":7}}]}}
{"finding":{"osv":"GO-2026-0003","fixed_version":"v1.2.0","trace":[{"module":"example.com/m","version":"v1.1.0","package":"example.com/m/p"}]}}
`

func TestReport_StdlibWarnsAndUncalledIsIgnored(t *testing.T) {
	var out strings.Builder
	failed, err := report(strings.NewReader(stream), &out)
	if err != nil || failed {
		t.Fatalf("failed=%v err=%v\n%s", failed, err, out.String())
	}
	if !strings.Contains(out.String(), "warning: GO-2026-0001 (Go standard library v1.26.8, fixed in v1.26.10") ||
		!strings.Contains(out.String(), "internal/x/x.go:7") || strings.Contains(out.String(), "GO-2026-0003") {
		t.Errorf("report:\n%s", out.String())
	}
}

func TestReport_CalledModuleVulnerabilityFails(t *testing.T) {
	in := stream + `{"finding":{"osv":"GO-2026-0002","fixed_version":"v0.9.0","trace":[{"module":"example.com/m","version":"v0.8.0","package":"example.com/m/p","function":"Parse"},{"module":"github.com/switchboard/switchboard","function":"Load","position":{"filename":"internal/y/y.go","line":3}}]}}` + "\n"
	var out strings.Builder
	failed, err := report(strings.NewReader(in), &out)
	if err != nil || !failed {
		t.Fatalf("failed=%v err=%v", failed, err)
	}
	if !strings.Contains(out.String(), "error: GO-2026-0002 (example.com/m v0.8.0, fixed in v0.9.0; upgrade it in go.mod): module bug") {
		t.Errorf("report:\n%s", out.String())
	}
}
