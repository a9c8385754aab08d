"""Ingress through Caddy's admin API: routes, upstream switches, TLS."""
