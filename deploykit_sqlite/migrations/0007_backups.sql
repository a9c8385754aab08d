-- Backups the daemon ran, and settings kept as JSON by key (the backup schedule).
CREATE TABLE backups (
    id          TEXT PRIMARY KEY,
    trigger     TEXT NOT NULL,
    status      TEXT NOT NULL,
    location    TEXT,
    size_bytes  INTEGER,
    duration_s  REAL,
    volumes     INTEGER NOT NULL DEFAULT 0,
    error       TEXT,
    created_by  TEXT,
    started_at  TEXT NOT NULL,
    finished_at TEXT
);
CREATE INDEX backups_started ON backups (started_at);

CREATE TABLE settings (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
