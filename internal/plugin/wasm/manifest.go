package wasm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"golang.org/x/mod/semver"

	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/plugin"
)

// Capabilities a manifest may ask for and an installer may grant. Each
// unlocks host functions in the "switchboard" import module.
const (
	CapLog         = "log"
	CapKV          = "kv"
	CapHTTP        = "http"
	CapGatewaySend = "gateway.send"
)

// Capabilities lists every capability, in the order the docs describe them.
var Capabilities = []string{CapLog, CapKV, CapHTTP, CapGatewaySend}

// hostFunctions maps each host function to the capability it needs.
var hostFunctions = map[string]string{
	"log":           CapLog,
	"kv_get":        CapKV,
	"kv_set":        CapKV,
	"kv_delete":     CapKV,
	"http_request":  CapHTTP,
	"http_response": CapHTTP,
	"gateway_send":  CapGatewaySend,
}

// Manifest describes a sandboxed plugin version (docs/plugins.md).
type Manifest struct {
	Slug         string          `json:"slug"`
	Name         string          `json:"name"`
	Version      string          `json:"version"`
	Description  string          `json:"description,omitempty"`
	InputSchema  json.RawMessage `json:"inputSchema,omitempty"`
	OutputSchema json.RawMessage `json:"outputSchema,omitempty"`
	ConfigSchema json.RawMessage `json:"configSchema,omitempty"`
	// Permissions are the capabilities the plugin asks for; an installer
	// grants some or all of them.
	Permissions []string `json:"permissions,omitempty"`
	// AllowedHosts are the only hosts http_request may reach: host names
	// ("api.example.com") or wildcard subdomains ("*.example.com"), never
	// IP addresses. Required with the "http" permission, refused without.
	AllowedHosts      []string `json:"allowedHosts,omitempty"`
	CanBeWorkflowStep bool     `json:"canBeWorkflowStep"`
}

// Compiled holds a manifest's compiled schemas.
type Compiled struct {
	Manifest
	Input, Output, Config *plugin.Schema
}

var slugPattern = regexp.MustCompile(`^[a-z][a-z0-9-]{1,48}[a-z0-9]$`)

// MaxManifestBytes bounds a manifest document.
const MaxManifestBytes = 256 << 10

// ParseManifest decodes and checks a manifest, naming every bad field.
func ParseManifest(raw json.RawMessage) (Compiled, error) {
	if len(raw) > MaxManifestBytes {
		return Compiled{}, apperr.Invalid(apperr.FieldError{Field: "manifest", Message: fmt.Sprintf("must be at most %d bytes", MaxManifestBytes)})
	}
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return Compiled{}, apperr.Invalid(apperr.FieldError{Field: "manifest", Message: "must be a JSON object of the manifest format: " + err.Error()})
	}
	var bad []apperr.FieldError
	add := func(f, msg string) { bad = append(bad, apperr.FieldError{Field: "manifest." + f, Message: msg}) }
	if !slugPattern.MatchString(m.Slug) {
		add("slug", "must be 3–50 characters of a-z, 0-9 and -, starting with a letter")
	}
	if n := strings.TrimSpace(m.Name); n == "" || utf8.RuneCountInString(n) > 100 {
		add("name", "is required, at most 100 characters")
	}
	m.Name = strings.TrimSpace(m.Name)
	if utf8.RuneCountInString(m.Description) > 2000 {
		add("description", "must be at most 2000 characters")
	}
	if !ValidVersion(m.Version) {
		add("version", "must be a semantic version such as 1.2.3")
	}
	seen := map[string]bool{}
	for _, p := range m.Permissions {
		if !knownCap(p) {
			add("permissions", fmt.Sprintf("unknown permission %q; known: %s", p, strings.Join(Capabilities, ", ")))
		} else if seen[p] {
			add("permissions", fmt.Sprintf("%q is listed twice", p))
		}
		seen[p] = true
	}
	hosts, problems := checkAllowedHosts(m.AllowedHosts, seen[CapHTTP])
	for _, p := range problems {
		add("allowedHosts", p)
	}
	m.AllowedHosts = hosts
	c := Compiled{Manifest: m}
	var err error
	if c.Input, err = plugin.CompileSchema(m.InputSchema); err != nil {
		add("inputSchema", err.Error())
	}
	if c.Output, err = plugin.CompileSchema(m.OutputSchema); err != nil {
		add("outputSchema", err.Error())
	}
	if c.Config, err = plugin.CompileSchema(m.ConfigSchema); err != nil {
		add("configSchema", err.Error())
	}
	if len(bad) > 0 {
		return Compiled{}, apperr.Invalid(bad...)
	}
	return c, nil
}

// ValidVersion reports whether v is a semantic version without a "v"
// prefix (1.2.3, 1.0.0-beta.1).
func ValidVersion(v string) bool {
	return v != "" && !strings.HasPrefix(v, "v") && semver.IsValid("v"+v) && strings.Count(strings.SplitN(strings.SplitN(v, "-", 2)[0], "+", 2)[0], ".") == 2
}

// CompareVersions orders two valid versions as semver does.
func CompareVersions(a, b string) int { return semver.Compare("v"+a, "v"+b) }

func knownCap(c string) bool {
	for _, k := range Capabilities {
		if k == c {
			return true
		}
	}
	return false
}

// CheckGrants checks that grants is a subset of what the manifest asks for.
func CheckGrants(asked, grants []string) error {
	for _, g := range grants {
		ok := false
		for _, a := range asked {
			ok = ok || a == g
		}
		if !ok {
			return apperr.Invalid(apperr.FieldError{Field: "grants", Message: fmt.Sprintf("%q is not a permission this plugin asks for (it asks for %v)", g, asked)})
		}
	}
	return nil
}
