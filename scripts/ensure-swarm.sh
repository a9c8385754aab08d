#!/usr/bin/env bash
# Make the local Docker engine a single-node swarm manager (idempotent): the Swarm runtime
# (`deploykitd --runtime swarm`) and its contract tests need one. Plain containers, which the
# default Docker runtime uses, are unaffected by swarm mode.
set -euo pipefail
state=$(docker info --format '{{.Swarm.LocalNodeState}}' 2>/dev/null || echo unknown)
case "$state" in
  active)
    if [ "$(docker info --format '{{.Swarm.ControlAvailable}}')" = true ]; then exit 0; fi
    echo "ensure-swarm: this engine is a swarm worker, not a manager" >&2
    exit 1 ;;
  pending|locked|error)
    echo "ensure-swarm: the engine's swarm state is '$state'; fix it with 'docker swarm leave --force'" >&2
    exit 1 ;;
esac
# Advertise the address of the default route's interface (the engine refuses to guess when the
# host has several).
addr=${DEPLOYKIT_SWARM_ADDR:-$(ip -4 route get 1.1.1.1 2>/dev/null | sed -n 's/.* src \([0-9.]*\).*/\1/p')}
if ! out=$(docker swarm init ${addr:+--advertise-addr "$addr"} 2>&1); then
  # Another set-up may have won the race.
  if [ "$(docker info --format '{{.Swarm.LocalNodeState}}')" = active ]; then exit 0; fi
  echo "ensure-swarm: docker swarm init failed: $out" >&2
  exit 1
fi
