-- Pull-request previews. A preview runs as a hidden service (services.preview_of names the
-- previewed one, so that it goes with it); the previews table holds the request it runs.
ALTER TABLE webhooks ADD COLUMN previews INTEGER NOT NULL DEFAULT 0;
ALTER TABLE webhooks ADD COLUMN max_previews INTEGER NOT NULL DEFAULT 3;
ALTER TABLE webhook_deliveries ADD COLUMN preview_number INTEGER;
ALTER TABLE webhook_deliveries ADD COLUMN preview_action TEXT;
ALTER TABLE services ADD COLUMN preview_of TEXT REFERENCES services (id) ON DELETE CASCADE;
CREATE INDEX services_preview_of ON services (preview_of) WHERE preview_of IS NOT NULL;

CREATE TABLE previews (
    id                 TEXT PRIMARY KEY,
    service_id         TEXT NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    preview_service_id TEXT NOT NULL UNIQUE REFERENCES services (id) ON DELETE CASCADE,
    number             INTEGER NOT NULL,
    title              TEXT NOT NULL,
    url                TEXT,
    head_ref           TEXT NOT NULL,
    head_sha           TEXT NOT NULL,
    author             TEXT,
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL,
    UNIQUE (service_id, number)
);

-- The "preview" scope: variables laid over the service's own in its previews (values sealed).
CREATE TABLE preview_env_vars (
    service_id TEXT NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    key        TEXT NOT NULL,
    value      BLOB NOT NULL,
    PRIMARY KEY (service_id, key)
);
