"""Canvas benchmark: a project with 1,000 services, 100 notes and 20 groups (each holding two notes),
in headless Chromium.

Prints, without passing or failing on them (goals from issue 18 in brackets, for 1,000 nodes):
  - time from navigation to a rendered canvas [<= 1.5 s]
  - frames per second while dragging a node, at the zoom the canvas opens at and zoomed out to fit
    every node [>= 30]
  - the gzipped size of the SPA's JavaScript, in total and on first load [<= 400 KB]

The services are staged (not deployed) by default so that the benchmark needs no Docker and starts no
containers; they render as the same service nodes. ``--deploy`` applies them first (with Docker, that
starts 200 containers).

Usage: .venv/bin/python bench/ui_canvas.py [--services 1000] [--notes 100] [--groups 20] [--url URL] [--deploy]
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import itertools
import json
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.e2e import ui_support as ui

COLUMNS = 40  # wide enough that React Flow's least zoom (0.1) shows all 1,000 in a 1280x720 view

# Stamps the moment the canvas is synced and its visible nodes are in the DOM and painted.
RENDER_PROBE = """
(() => {
  const done = () => {
    const page = document.querySelector('[data-testid="canvas-page"]');
    const n = document.querySelectorAll('.react-flow__node').length;
    return page && page.dataset.synced === 'true' && n > 0 ? n : 0;
  };
  const obs = new MutationObserver(() => {
    const n = done();
    if (n && window.__dkRendered === undefined) {
      window.__dkRendered = -1;
      requestAnimationFrame(() => requestAnimationFrame(() => {
        window.__dkRendered = performance.now();
        window.__dkRenderedNodes = document.querySelectorAll('.react-flow__node').length;
      }));
      obs.disconnect();
    }
  });
  obs.observe(document, { subtree: true, childList: true, attributes: true, attributeFilter: ['data-synced'] });
})();
"""

FRAME_COUNTER = """
() => {
  window.__dkFrames = [];
  window.__dkCounting = true;
  const tick = (t) => { if (!window.__dkCounting) return; window.__dkFrames.push(t); requestAnimationFrame(tick); };
  requestAnimationFrame(tick);
}
"""


def js_sizes() -> tuple[int, int, int]:
    """Total gzipped JS, gzipped JS loaded by index.html (entry + modulepreloads), and the file count."""
    root = ui.SPA_INDEX.parent
    files = sorted((root / "assets").glob("*.js"))
    gz = {f.name: len(gzip.compress(f.read_bytes(), 9)) for f in files}
    index = ui.SPA_INDEX.read_text()
    initial = set(re.findall(r'(?:src|href)="/assets/([^"]+\.js)"', index))
    return sum(gz.values()), sum(v for k, v in gz.items() if k in initial), len(files)


async def add_notes(base: str, token: str, project_id: str, count: int, rows_used: int, groups: int = 0) -> None:
    import websockets

    url = base.replace("http", "ws", 1) + f"/api/projects/{project_id}/canvas/ws"
    async with websockets.connect(url, origin=base) as ws:  # type: ignore[arg-type]
        await ws.send(json.dumps({"type": "auth", "payload": {"token": token}}))
        for i in range(count):
            payload = {
                "id": f"00000000-0000-4000-8000-{i:012d}",
                "type": "note",
                "position_x": (i % COLUMNS) * 260,
                "position_y": (rows_used + i // COLUMNS) * 150,
                "width": 200,
                "height": 100,
                "data": {"text": f"Note {i}: remember to rotate the keys"},
            }
            await ws.send(json.dumps({"type": "node:upsert", "payload": payload}))
        # Groups below the notes, each holding two notes of its own.
        top = (rows_used + (count + COLUMNS - 1) // COLUMNS) * 150
        sent = count
        for g in range(groups):
            gid = f"00000000-0000-4000-9000-{g:012d}"
            group = {
                "id": gid,
                "type": "group",
                "position_x": (g % 5) * 520,
                "position_y": top + (g // 5) * 360,
                "width": 480,
                "height": 320,
                "data": {"name": f"Group {g}"},
            }
            await ws.send(json.dumps({"type": "node:upsert", "payload": group}))
            for k in range(2):
                note = {
                    "id": f"00000000-0000-4000-a000-{g * 2 + k:012d}",
                    "type": "note",
                    "parent_id": gid,
                    "position_x": 20 + k * 230,
                    "position_y": 60,
                    "width": 200,
                    "height": 100,
                    "data": {"text": f"Group {g}, note {k}"},
                }
                await ws.send(json.dumps({"type": "node:upsert", "payload": note}))
            sent += 3
        # The hub answers every upsert to the room; wait for ours to come back.
        seen = 0
        while seen < sent:
            msg = json.loads(await asyncio.wait_for(ws.recv(), timeout=30))
            if msg["type"] == "node:upserted":
                seen += 1


def seed(api: ui.Api, services: int, notes: int, groups: int, deploy: bool) -> str:
    try:
        api.register("Bench", "bench@example.com")
    except AssertionError:
        api.login("bench@example.com")
    project = api.call("POST", "/projects", {"name": f"bench-{int(time.time())}"}, expect=201)
    pid = project["id"]
    for i in range(services):
        api.call(
            "POST",
            f"/projects/{pid}/services",
            {
                "name": f"svc-{i:03d}",
                "source": {"type": "image", "image": ui.TEST_IMAGE},
                "port": 8080,
                "position_x": (i % COLUMNS) * 260,
                "position_y": (i // COLUMNS) * 150,
            },
        )
    if deploy:
        api.call("POST", f"/projects/{pid}/deploy")
    rows = (services + COLUMNS - 1) // COLUMNS
    asyncio.run(add_notes(api.base, api.tokens["access_token"], pid, notes, rows, groups))
    return str(pid)


def drag_fps(page: Any, node_id: str, steps: int = 90) -> tuple[float, float, float]:
    """Drag a node in small steps; frames per second, median and 95th percentile frame time (ms)."""
    el = page.locator(f'.react-flow__node[data-id="{node_id}"]')
    box = el.bounding_box()
    assert box is not None, "node to drag is not rendered"
    x, y = box["x"] + min(40, box["width"] / 2), box["y"] + min(20, box["height"] / 2)
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 5, y + 5)
    page.evaluate(FRAME_COUNTER)
    t0 = page.evaluate("performance.now()")
    for i in range(steps):
        page.mouse.move(x + 5 + 3 * i, y + 5 + 1.5 * i)
    t1 = page.evaluate("performance.now()")
    page.evaluate("window.__dkCounting = false")
    page.mouse.up()
    frames: list[float] = page.evaluate("window.__dkFrames")
    moved = el.bounding_box()
    if moved is None or (moved["x"], moved["y"]) == (box["x"], box["y"]):
        raise RuntimeError("the dragged node did not move; the frame rate would mean nothing")
    deltas = [b - a for a, b in itertools.pairwise(frames)]
    fps = (len(frames) - 1) / ((t1 - t0) / 1000) if len(frames) > 1 else 0.0
    p50 = statistics.median(deltas) if deltas else float("nan")
    p95 = sorted(deltas)[int(len(deltas) * 0.95)] if deltas else float("nan")
    return fps, p50, p95


def run(base: str, api: ui.Api, services: int, notes: int, groups: int, deploy: bool, runs: int) -> None:
    from playwright.sync_api import sync_playwright

    t = time.monotonic()
    pid = seed(api, services, notes, groups, deploy)
    nodes = services + notes + groups * 3
    print(
        f"seeded {services} services + {notes} notes + {groups} groups of 2 notes ({nodes} nodes) in {time.monotonic() - t:.1f} s"
    )
    with sync_playwright() as p:
        browser = ui.launch_browser(p)
        # The daemon's CSP forbids eval; Playwright's wait_for_function needs it.
        ctx = browser.new_context(viewport={"width": 1280, "height": 720}, bypass_csp=True)
        ctx.add_init_script(RENDER_PROBE)
        page = ctx.new_page()
        ui.sign_in(page, base, api.tokens, "/")
        page.get_by_test_id("project-card").first.wait_for()
        # Warm the lazy canvas chunk's HTTP cache like a returning user; the first run is reported too.
        times: list[tuple[float, int, float]] = []
        for _ in range(runs):
            page.goto(f"{base}/projects/{pid}")
            page.wait_for_function("window.__dkRendered > 0", timeout=60_000)
            rendered, count = page.evaluate("[window.__dkRendered, window.__dkRenderedNodes]")
            total = page.evaluate("document.querySelectorAll('.react-flow__node').length")
            times.append((rendered, count, total))
        for i, (ms, count, _) in enumerate(times):
            print(f"navigation -> rendered canvas, run {i + 1}: {ms:7.0f} ms ({count} nodes in view)")
        print(
            f"navigation -> rendered canvas, median: {statistics.median(t[0] for t in times):7.0f} ms"
            f"   [goal <= 1500 ms at 1,000 nodes; {nodes} here]"
        )

        node_ids: list[str] = page.evaluate(
            "Array.from(document.querySelectorAll('.react-flow__node-service')).map(n => n.dataset.id)"
        )
        fps, p50, p95 = drag_fps(page, node_ids[len(node_ids) // 2])
        print(
            f"drag at the opening zoom: {fps:5.1f} fps, frame p50 {p50:5.1f} ms, p95 {p95:5.1f} ms   [goal >= 30 fps]"
        )

        page.locator(".react-flow__controls-fitview").click()
        page.wait_for_function(f"document.querySelectorAll('.react-flow__node').length >= {nodes}", timeout=120_000)
        in_view = page.evaluate("document.querySelectorAll('.react-flow__node').length")
        node_ids = page.evaluate(
            "Array.from(document.querySelectorAll('.react-flow__node-service')).map(n => n.dataset.id)"
        )
        fps, p50, p95 = drag_fps(page, node_ids[len(node_ids) // 2])
        print(
            f"drag with all {in_view} nodes in view: {fps:5.1f} fps, frame p50 {p50:5.1f} ms, p95 {p95:5.1f} ms"
            "   [goal >= 30 fps]"
        )
        browser.close()

    total, initial, n = js_sizes()
    print(f"gzipped JS: {total / 1024:.1f} KB in {n} files, {initial / 1024:.1f} KB on first load   [goal <= 400 KB]")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--services", type=int, default=1000)
    ap.add_argument("--notes", type=int, default=100)
    ap.add_argument("--groups", type=int, default=20, help="groups, each holding two notes")
    ap.add_argument("--runs", type=int, default=3, help="navigations to time")
    ap.add_argument("--url", help="an already running daemon (default: start one in a temporary directory)")
    ap.add_argument("--deploy", action="store_true", help="apply the staged services (needs Docker)")
    args = ap.parse_args()
    ui.build_spa()
    if args.url:
        run(
            args.url.rstrip("/"),
            ui.Api(args.url.rstrip("/")),
            args.services,
            args.notes,
            args.groups,
            args.deploy,
            args.runs,
        )
        return
    with tempfile.TemporaryDirectory(prefix="dk-bench-") as tmp:
        d = ui.start_daemon(Path(tmp))
        try:
            run(d.url, ui.Api(d.url), args.services, args.notes, args.groups, args.deploy, args.runs)
        finally:
            ui.stop_daemon(d)


if __name__ == "__main__":
    main()
