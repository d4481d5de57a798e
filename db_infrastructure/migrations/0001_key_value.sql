-- Namespaced key-value rows: tokens (encrypted), OAuth states, worker state, client keys.
-- expires_at is a Unix time in seconds, NULL for values that never expire.
CREATE TABLE IF NOT EXISTS kv (
    namespace TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    expires_at DOUBLE PRECISION,
    updated_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (namespace, key)
);

CREATE INDEX IF NOT EXISTS kv_expires_at ON kv (expires_at);
