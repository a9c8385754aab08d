-- Deployment cards (issue 15): what triggered a deployment (deploy, redeploy, webhook, rollback,
-- retry) and, recorded when it was created, what changed against the service's previous one.
ALTER TABLE deployments ADD COLUMN trigger TEXT NOT NULL DEFAULT 'deploy';
ALTER TABLE deployments ADD COLUMN changes TEXT NOT NULL DEFAULT '[]';
UPDATE deployments SET trigger = 'rollback' WHERE rollback_of IS NOT NULL;
