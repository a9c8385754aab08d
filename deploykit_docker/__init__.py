"""Docker runtime adapter (aiodocker): networks, volumes, containers, images, builds, logs, stats."""
