-- +goose Up
-- A provider's delivery report (a WhatsApp "failed" status) names the
-- message by the id the provider gave it when it was sent.
CREATE INDEX gateway_sends_provider_message ON gateway_sends (gateway_id, provider_message_id);

-- +goose Down
DROP INDEX gateway_sends_provider_message;
