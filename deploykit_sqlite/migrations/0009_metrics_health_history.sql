-- Metrics history (issue 13): container and host samples at three resolutions in one table
-- each (0 = raw, 60 = 1-minute averages, 3600 = 1-hour averages), pruned by their retention.
-- Times are Unix seconds: buckets are integer division, and rows stay small.
CREATE TABLE container_metrics (
    resolution         INTEGER NOT NULL,
    at                 INTEGER NOT NULL,
    service_id         TEXT NOT NULL,
    container_id       TEXT NOT NULL,
    replica_index      INTEGER NOT NULL,
    cpu_percent        REAL NOT NULL,
    memory_bytes       INTEGER NOT NULL,
    memory_limit_bytes INTEGER NOT NULL,
    net_rx_bps         REAL NOT NULL,
    net_tx_bps         REAL NOT NULL,
    block_read_bps     REAL NOT NULL,
    block_write_bps    REAL NOT NULL,
    restarts           INTEGER NOT NULL,
    PRIMARY KEY (resolution, service_id, at, container_id)
) WITHOUT ROWID;
CREATE INDEX container_metrics_at ON container_metrics (resolution, at);

CREATE TABLE host_metrics (
    resolution         INTEGER NOT NULL,
    at                 INTEGER NOT NULL,
    cpu_percent        REAL NOT NULL,
    memory_bytes       INTEGER NOT NULL,
    memory_total_bytes INTEGER NOT NULL,
    disk_used_bytes    INTEGER NOT NULL,
    disk_total_bytes   INTEGER NOT NULL,
    load1              REAL NOT NULL,
    load5              REAL NOT NULL,
    load15             REAL NOT NULL,
    PRIMARY KEY (resolution, at)
) WITHOUT ROWID;

-- Health history: which replica a result is of, and the monitor's events (held_out, restarted,
-- rejoined) beside the probe results (event NULL), kept for the same 24 hours.
ALTER TABLE health_records ADD COLUMN replica_index INTEGER;
ALTER TABLE health_records ADD COLUMN event TEXT;
