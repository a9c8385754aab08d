"""``dk``: DeployKit's command line, for people who live in a terminal and for CI pipelines.

Built only on the domain (``deploykit``) and the API client (``deploykit_http.client``): it drives
a remote daemon through the same service Protocols the daemon uses inside.
"""
