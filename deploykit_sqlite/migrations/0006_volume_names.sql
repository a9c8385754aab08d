-- Engine object names became unambiguous (dk_<project>_<service>_<volume>; no slug contains "_").
-- Docker cannot rename a volume, so every volume a service had under the old, ambiguous name
-- (dk-<project>-<service>-<volume>) keeps that name, recorded here: no byte is moved, none lost.
-- Where two services' old names were the same (service "db" + volume "x-data", service "db-x" +
-- volume "data"), only the service created first keeps it: its id is the one on the volume's labels.
-- The other gets a volume of its own under the new name.
ALTER TABLE services ADD COLUMN volume_names TEXT NOT NULL DEFAULT '{}';

CREATE TEMP TABLE legacy_volumes AS
SELECT s.id AS service_id, s.created_at AS created_at,
       json_extract(v.value, '$.name') AS volume,
       'dk-' || p.slug || '-' || s.slug || '-' || json_extract(v.value, '$.name') AS engine_name
FROM services s
JOIN projects p ON p.id = s.project_id,
     json_each(s.config, '$.volumes') v;

UPDATE services SET volume_names = (
    SELECT json_group_object(l.volume, l.engine_name)
    FROM legacy_volumes l
    WHERE l.service_id = services.id
      AND NOT EXISTS (
          SELECT 1 FROM legacy_volumes o
          WHERE o.engine_name = l.engine_name
            AND o.service_id <> l.service_id
            AND (o.created_at < l.created_at OR (o.created_at = l.created_at AND o.service_id < l.service_id))
      )
)
WHERE id IN (SELECT service_id FROM legacy_volumes);

DROP TABLE legacy_volumes;
