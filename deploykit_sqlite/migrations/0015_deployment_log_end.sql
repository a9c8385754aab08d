-- Where each deployment's log ends, counting every character ever appended: clipping a long log
-- drops its oldest text but never lowers this, so a live reader can tell which build.log events
-- the log it read already holds.
ALTER TABLE deployments ADD COLUMN log_end INTEGER NOT NULL DEFAULT 0;
UPDATE deployments SET log_end = length(log);
