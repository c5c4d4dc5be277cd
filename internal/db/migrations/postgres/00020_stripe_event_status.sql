-- +goose Up
-- A stored Stripe event says what became of it: applied, or ignored with
-- the reason (a customer no workspace has, a state that changes nothing).
-- Ignored events are stored too, answered 2xx, so Stripe stops retrying
-- them and an operator can see why nothing happened.
ALTER TABLE stripe_events ADD COLUMN status TEXT NOT NULL DEFAULT 'applied';
ALTER TABLE stripe_events ADD COLUMN reason TEXT;

-- +goose Down
ALTER TABLE stripe_events DROP COLUMN reason;
ALTER TABLE stripe_events DROP COLUMN status;
