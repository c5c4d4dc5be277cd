package app

import (
	"fmt"

	"github.com/switchboard/switchboard/internal/config"
	"github.com/switchboard/switchboard/internal/plugin"
	"github.com/switchboard/switchboard/internal/plugin/builtin"
	"github.com/switchboard/switchboard/internal/safehttp"
)

// registerHTTPRequest adds the http-request built-in on an SSRF-safe
// client with the operator's outbound allow-list (--outbound-allow), the
// same one gateways use.
func registerHTTPRequest(r *plugin.Registry, c config.Config) error {
	client, err := safehttp.New(safehttp.Options{Allow: c.Gateway.OutboundAllow})
	if err != nil {
		return fmt.Errorf("http-request client: %w", err)
	}
	r.Register(builtin.NewHTTPRequest(client))
	return nil
}
