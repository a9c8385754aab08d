-- Previews of pull/merge requests from forks: off unless the webhook turns them on, since a fork's
-- code would run with the preview scope's variables.
ALTER TABLE webhooks ADD COLUMN previews_from_forks INTEGER NOT NULL DEFAULT 0;
