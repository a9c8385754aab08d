#!/usr/bin/env bash
# Build the SPA into deploykit_http/spa_assets/ (git-ignored), doing only the work that is due:
#   npm ci         when package-lock.json changed since the last install (or node_modules is missing)
#   npm run build  when anything under frontend/ that feeds the build changed (or the output is missing)
# Stamps live in .stamps/ (git-ignored).
#
# Usage: scripts/build-frontend.sh          build if needed
#        scripts/build-frontend.sh --force  build regardless of the stamp
#        scripts/build-frontend.sh test     run the Vitest suite (installs first if needed)
#        scripts/build-frontend.sh check    typecheck only
#        scripts/build-frontend.sh api-types  regenerate src/api/schema.d.ts from the app's OpenAPI document
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
fe="$root/frontend"
out="$root/deploykit_http/spa_assets"
stamps="$root/.stamps"
mkdir -p "$stamps"

hash_files() {
  # Content hash of the given paths (sorted, NUL-safe), independent of mtimes.
  (cd "$fe" && find "$@" -type f -print0 2>/dev/null | LC_ALL=C sort -z | xargs -0 sha256sum) | sha256sum | cut -d' ' -f1
}

ensure_deps() {
  local want have=""
  want="$(sha256sum "$fe/package-lock.json" | cut -d' ' -f1)"
  [[ -f "$stamps/frontend-deps" ]] && have="$(cat "$stamps/frontend-deps")"
  if [[ "$want" != "$have" || ! -d "$fe/node_modules" ]]; then
    echo "build-frontend: npm ci" >&2
    (cd "$fe" && npm ci --no-audit --no-fund --loglevel=error)
    echo "$want" >"$stamps/frontend-deps"
  fi
}

case "${1:-build}" in
  test)
    ensure_deps
    cd "$fe" && exec npx vitest run
    ;;
  check)
    ensure_deps
    cd "$fe" && exec npx tsc -b
    ;;
  api-types)
    ensure_deps
    spec="$(mktemp --suffix=.json)"
    trap 'rm -f "$spec"' EXIT
    "$root/.venv/bin/python" -c 'import json, sys; from deploykit_http.app import openapi_document; json.dump(openapi_document(), sys.stdout)' >"$spec"
    # Defaults make a field optional (a request may leave it out); tests/http/test_api_types.py uses the same flags.
    cd "$fe" && npx openapi-typescript "$spec" --default-non-nullable false -o src/api/schema.d.ts
    exit 0
    ;;
  build | --force) ;;
  *)
    echo "usage: $0 [--force|test|check|api-types]" >&2
    exit 2
    ;;
esac

ensure_deps
src_hash="$(hash_files src index.html vite.config.ts tsconfig.json package.json package-lock.json)"
have=""
[[ -f "$stamps/frontend-build" ]] && have="$(cat "$stamps/frontend-build")"
if [[ "${1:-}" != "--force" && "$src_hash" == "$have" && -f "$out/index.html" ]]; then
  exit 0
fi
echo "build-frontend: npm run build" >&2
(cd "$fe" && npm run build --silent)
echo "$src_hash" >"$stamps/frontend-build"
