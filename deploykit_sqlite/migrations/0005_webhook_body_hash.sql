-- The SHA-256 of a signed delivery's body: a captured delivery re-sent under a new or no
-- delivery id is recognised by its body and skipped.
ALTER TABLE webhook_deliveries ADD COLUMN body_sha256 TEXT;
CREATE INDEX webhook_deliveries_body ON webhook_deliveries (webhook_id, body_sha256) WHERE body_sha256 IS NOT NULL;
