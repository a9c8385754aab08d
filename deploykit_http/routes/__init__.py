"""The REST routes, one module per concept; each exposes ``endpoints(ctx) -> list[Endpoint]``."""
