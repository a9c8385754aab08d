-- Deployment cards name who asked (issue 15, item 6): the user's name or 'API key <description>'
-- or 'GitHub webhook', recorded when the deployment is created (NULL for older ones). And the service's
-- own variables as written when it was created (sealed JSON; NULL for older ones), which a
-- rollback and Revert to running put back so that what is configured is what runs.
ALTER TABLE deployments ADD COLUMN actor TEXT;
ALTER TABLE deployments ADD COLUMN service_env BLOB;
