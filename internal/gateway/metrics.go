package gateway

import (
	"errors"

	"github.com/switchboard/switchboard/internal/gateway/channel"
	"github.com/switchboard/switchboard/internal/telemetry"
)

// SetMetrics makes the service count deliveries in and sends out in m.
// Call before serving.
func (s *Service) SetMetrics(m *telemetry.Metrics) { s.metrics = m }

func (s *Service) countInbound(channelType string, res InboundResult) {
	for range res.Stored {
		s.metrics.Inbound(channelType, "accepted")
	}
	for range res.Duplicates {
		s.metrics.Inbound(channelType, "duplicate")
	}
}

// sendOutcome names what one attempt at the platform's send API gave.
func sendOutcome(err error) string {
	if err == nil {
		return "sent"
	}
	var se *channel.SendError
	if !errors.As(err, &se) {
		return "error"
	}
	switch se.Kind {
	case channel.RateLimited:
		return "rate_limited"
	case channel.Permanent:
		return "rejected"
	case channel.Auth:
		return "unauthorized"
	}
	return "error"
}
