-- Notification channels (plain settings as JSON, secrets sealed), their deliveries, and the
-- append-only audit log.
CREATE TABLE notification_channels (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('webhook', 'slack', 'discord', 'email')),
    project_id TEXT REFERENCES projects (id) ON DELETE CASCADE,
    events     TEXT NOT NULL,
    enabled    INTEGER NOT NULL DEFAULT 1,
    settings   TEXT NOT NULL,
    secrets    BLOB NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX notification_channels_project ON notification_channels (project_id);

CREATE TABLE notification_deliveries (
    id          TEXT PRIMARY KEY,
    channel_id  TEXT NOT NULL REFERENCES notification_channels (id) ON DELETE CASCADE,
    event       TEXT NOT NULL,
    outcome     TEXT NOT NULL CHECK (outcome IN ('pending', 'success', 'failed')),
    message     TEXT NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    error       TEXT,
    created_at  TEXT NOT NULL,
    finished_at TEXT
);
CREATE INDEX notification_deliveries_channel ON notification_deliveries (channel_id, created_at);

-- No foreign keys: an entry outlives the user, key or project it names.
CREATE TABLE audit_log (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    id           TEXT NOT NULL UNIQUE,
    at           TEXT NOT NULL,
    action       TEXT NOT NULL,
    user_id      TEXT,
    actor_name   TEXT,
    api_key_id   TEXT,
    api_key_name TEXT,
    address      TEXT,
    project_id   TEXT,
    service_id   TEXT,
    details      TEXT NOT NULL
);
CREATE INDEX audit_log_project ON audit_log (project_id, seq);
CREATE INDEX audit_log_user ON audit_log (user_id, seq);
CREATE INDEX audit_log_action ON audit_log (action, seq);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
