"""SQLite storage: aiosqlite implementations of the domain services, with numbered migrations."""
