-- Host keys of a service's git remote, pinned on the first SSH clone.
CREATE TABLE known_hosts (
    service_id  TEXT PRIMARY KEY REFERENCES services (id) ON DELETE CASCADE,
    known_hosts TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
