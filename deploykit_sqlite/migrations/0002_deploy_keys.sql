-- SSH deploy keys of git services: the private half sealed with AES-256-GCM.
CREATE TABLE deploy_keys (
    service_id  TEXT PRIMARY KEY REFERENCES services (id) ON DELETE CASCADE,
    public_key  TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    private_key BLOB NOT NULL,
    created_at  TEXT NOT NULL
);
