"""Open Snakemake's report.html in a real headless Chromium (playwright driving the system's browser)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

# Chromium in a sandboxed machine without a network: no background connections, no sandbox (root)
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def find_chromium() -> str | None:
    """The system's Chromium (Debian's package), or None; PAPERSUITE_CHROMIUM overrides."""
    for candidate in (os.environ.get("PAPERSUITE_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if candidate and (found := shutil.which(candidate)):
            return found
    return None


def why_no_browser() -> str | None:
    """None when the browser test can run, else the reason to skip it."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install playwright; it is in the dev extra)"
    if find_chromium() is None:
        return "no Chromium on this machine (Debian: apt-get install chromium; .ci/run installs it where it can)"
    return None


def inspect_report(html: Path, papers: list[str], screenshots: Path) -> dict:
    """Load the report offline; return console errors, the claims table's text, and per paper one figure's
    rendered size after showing it as a reader would (its category, then the figure). Screenshots go to
    ``screenshots``."""
    from playwright.sync_api import sync_playwright

    screenshots.mkdir(parents=True, exist_ok=True)
    out: dict = {"console_errors": [], "figures": {}}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=find_chromium(), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1600, "height": 1200})
        page.on("console", lambda m: m.type == "error" and out["console_errors"].append(m.text))
        page.on("pageerror", lambda e: out["console_errors"].append(str(e)))
        page.goto(html.resolve().as_uri())
        page.wait_for_selector("#claims", timeout=60_000)
        out["claims_text"] = page.inner_text("#claims")
        out["claims_rows"] = page.locator("#claims tr").count() - 1
        out["provenance_text"] = page.inner_text("#provenance")
        page.screenshot(path=str(screenshots / "landing.png"), full_page=True)
        for paper in papers:
            out["figures"][paper] = _show_one_figure(page, paper, screenshots / f"{paper}.png")
        browser.close()
    return out


def _show_one_figure(page, paper: str, screenshot: Path) -> dict | None:
    """Open the paper's category, then one of its PNG figures; return the image's natural size."""
    figure = page.evaluate(
        """(paper) => {
            for (const paths of Object.values(categories[paper] || {})) {
                for (const path of paths) {
                    const r = results[path];
                    if (r && r.mime_type === "image/png") return {path: path, uri: r.data_uri};
                }
            }
            return null;
        }""",
        paper,
    )
    if figure is None:
        return None
    page.evaluate("(paper) => app.showCategory(paper)", paper)
    page.evaluate("(f) => app.setView({content: 'img', contentPath: f.uri, resultPath: f.path})", figure)
    image = page.wait_for_selector("img[src^='data:image/png']", timeout=30_000)
    page.wait_for_function("(img) => img.complete && img.naturalWidth > 0", arg=image, timeout=30_000)
    size = page.evaluate("(img) => [img.naturalWidth, img.naturalHeight]", image)
    page.screenshot(path=str(screenshot))
    return {"path": figure["path"], "width": size[0], "height": size[1]}
