"""The built single-page app, served from package data with an ``index.html`` fallback.

Files under ``assets/`` carry a content hash in their names (Vite), so they are cached for a year;
``index.html`` is never cached, so that a new release is picked up on the next load.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response

PLACEHOLDER = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>DeployKit</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;color:#222}
code{background:#f3f3f3;padding:.1rem .3rem;border-radius:3px}</style></head>
<body><h1>DeployKit</h1>
<p>The daemon is running, but its web interface has not been built into this installation.</p>
<p>Build it with <code>make frontend</code> (or <code>scripts/build-frontend.sh</code>) and reload;
the API is available at <code>/api</code> and documented at <code>/api/openapi.json</code>.</p>
</body></html>
"""

IMMUTABLE = "public, max-age=31536000, immutable"
NO_CACHE = "no-cache"


class SPA:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def _file(self, path: str) -> Path | None:
        if not path or path.endswith("/"):
            return None
        candidate = (self.root / path).resolve()
        if not candidate.is_relative_to(self.root) or not candidate.is_file():
            return None
        return candidate

    async def serve(self, request: Request) -> Response:
        path = request.path_params.get("path", "")
        index = self.root / "index.html"
        if not index.is_file():
            return HTMLResponse(PLACEHOLDER, headers={"Cache-Control": NO_CACHE})
        found = self._file(path)
        if found is None:
            if path.startswith("assets/"):
                return Response("Not found.", status_code=404, media_type="text/plain")
            return FileResponse(index, media_type="text/html", headers={"Cache-Control": NO_CACHE})
        cache = IMMUTABLE if path.startswith("assets/") else NO_CACHE
        media_type = mimetypes.guess_type(found.name)[0] or "application/octet-stream"
        return FileResponse(found, media_type=media_type, headers={"Cache-Control": cache})
