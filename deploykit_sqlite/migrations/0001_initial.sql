-- DeployKit's first schema. Timestamps are ISO-8601 UTC text; ids are UUID text.
-- Secrets (env var values, resolved deployment env, webhook secrets, staged change bodies) are
-- stored as AES-256-GCM blobs (12-byte nonce + ciphertext).

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('admin', 'member')),
    password_hash TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);

CREATE TABLE sessions (
    id                 TEXT PRIMARY KEY,
    user_id            TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    access_hash        TEXT NOT NULL UNIQUE,
    refresh_hash       TEXT NOT NULL UNIQUE,
    access_expires_at  TEXT NOT NULL,
    refresh_expires_at TEXT NOT NULL,
    revoked_at         TEXT,
    created_at         TEXT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

-- Refresh tokens that were rotated away: presenting one again revokes its session.
CREATE TABLE rotated_refresh_tokens (
    hash       TEXT PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE
);

CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    description  TEXT NOT NULL,
    prefix       TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    created_at   TEXT NOT NULL,
    expires_at   TEXT,
    last_used_at TEXT
);
CREATE INDEX api_keys_user ON api_keys (user_id);

CREATE TABLE projects (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    slug       TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE services (
    id                   TEXT PRIMARY KEY,
    project_id           TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name                 TEXT NOT NULL,
    name_key             TEXT NOT NULL,
    slug                 TEXT NOT NULL,
    config               TEXT NOT NULL,
    status               TEXT NOT NULL,
    active_deployment_id TEXT,
    group_id             TEXT,
    stopped              INTEGER NOT NULL DEFAULT 0,
    drain_s              REAL NOT NULL DEFAULT 10.0,
    created_at           TEXT NOT NULL,
    updated_at           TEXT NOT NULL,
    UNIQUE (project_id, name_key),
    UNIQUE (project_id, slug)
);

CREATE TABLE deployments (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    id             TEXT NOT NULL UNIQUE,
    service_id     TEXT NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    project_id     TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    status         TEXT NOT NULL,
    config         TEXT NOT NULL,
    env_vars       BLOB NOT NULL,
    image          TEXT,
    commit_sha     TEXT,
    commit_message TEXT,
    failure_reason TEXT,
    exit_code      INTEGER,
    log_tail       TEXT,
    log            TEXT NOT NULL DEFAULT '',
    attempt_count  INTEGER NOT NULL DEFAULT 0,
    rollback_of    TEXT,
    created_by     TEXT,
    created_at     TEXT NOT NULL,
    started_at     TEXT,
    healthy_at     TEXT,
    finished_at    TEXT,
    was_healthy    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX deployments_service ON deployments (service_id, seq);
CREATE INDEX deployments_status ON deployments (status);

CREATE TABLE containers (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    project_id    TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    service_id    TEXT NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    deployment_id TEXT NOT NULL,
    replica_index INTEGER NOT NULL,
    state         TEXT NOT NULL,
    exit_code     INTEGER,
    restart_count INTEGER NOT NULL DEFAULT 0,
    ip_address    TEXT,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);
CREATE INDEX containers_service ON containers (service_id);

CREATE TABLE canvas_nodes (
    project_id  TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    id          TEXT NOT NULL,
    type        TEXT NOT NULL,
    position_x  REAL NOT NULL,
    position_y  REAL NOT NULL,
    width       REAL,
    height      REAL,
    parent_id   TEXT,
    data        TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (project_id, id)
);

CREATE TABLE canvas_edges (
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    id         TEXT NOT NULL,
    source     TEXT NOT NULL,
    target     TEXT NOT NULL,
    type       TEXT NOT NULL,
    data       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (project_id, id)
);

CREATE TABLE env_vars (
    id         TEXT PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    scope      TEXT NOT NULL CHECK (scope IN ('project', 'group', 'service')),
    scope_id   TEXT NOT NULL,
    key        TEXT NOT NULL,
    value      BLOB NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (project_id, scope, scope_id, key)
);

CREATE TABLE pending_changes (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    id             TEXT NOT NULL UNIQUE,
    project_id     TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    kind           TEXT NOT NULL,
    body           BLOB NOT NULL,
    target_id      TEXT,
    target_temp_id TEXT,
    created_by     TEXT,
    created_at     TEXT NOT NULL
);
CREATE INDEX pending_changes_project ON pending_changes (project_id, seq);

CREATE TABLE webhooks (
    id         TEXT PRIMARY KEY,
    service_id TEXT NOT NULL UNIQUE REFERENCES services (id) ON DELETE CASCADE,
    provider   TEXT NOT NULL,
    secret     BLOB NOT NULL,
    enabled    INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL
);

CREATE TABLE webhook_deliveries (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    id             TEXT NOT NULL UNIQUE,
    webhook_id     TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event          TEXT NOT NULL,
    status         TEXT NOT NULL,
    delivery_key   TEXT,
    branch         TEXT,
    commit_sha     TEXT,
    author         TEXT,
    message        TEXT,
    reason         TEXT,
    deployment_id  TEXT,
    delivered_at   TEXT NOT NULL,
    UNIQUE (webhook_id, delivery_key)
);

CREATE TABLE domains (
    hostname     TEXT PRIMARY KEY,
    project_id   TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    service_id   TEXT NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    is_generated INTEGER NOT NULL DEFAULT 0,
    dns_ok       INTEGER,
    tls_status   TEXT NOT NULL,
    created_at   TEXT NOT NULL
);
CREATE INDEX domains_service ON domains (service_id);

CREATE TABLE health_records (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    service_id   TEXT NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    container_id TEXT NOT NULL,
    ok           INTEGER NOT NULL,
    latency_ms   REAL NOT NULL,
    status_code  INTEGER,
    error        TEXT,
    checked_at   TEXT NOT NULL
);
CREATE INDEX health_records_service ON health_records (service_id, checked_at);
