-- A service without a public domain (a database made from a preset): reached only on the
-- project network. 1 = gets {service}-{project}.{base_domain} when it has a port.
ALTER TABLE services ADD COLUMN public INTEGER NOT NULL DEFAULT 1;
