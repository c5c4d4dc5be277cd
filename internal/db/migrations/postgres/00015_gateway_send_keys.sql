-- +goose Up
-- An outbound message may carry an idempotency key: the same key on the
-- same gateway returns the first message instead of queuing another (a
-- plugin execution retried after it sent, an API client retrying).
ALTER TABLE gateway_sends ADD COLUMN idempotency_key TEXT;
CREATE UNIQUE INDEX gateway_sends_key ON gateway_sends (gateway_id, idempotency_key);

-- +goose Down
DROP INDEX gateway_sends_key;
ALTER TABLE gateway_sends DROP COLUMN idempotency_key;
