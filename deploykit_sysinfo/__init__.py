"""System introspection: host (psutil), Docker and database."""
