-- Project lists are ordered by name, case-insensitively.
CREATE INDEX projects_name ON projects (name COLLATE NOCASE, id);
