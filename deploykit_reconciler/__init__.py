"""The control loop that converges actual state (Docker, ingress) towards desired state (the store)."""
