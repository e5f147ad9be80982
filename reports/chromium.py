"""Headless Chromium for the HTML reports: a PNG screenshot (to look at a page) and a PDF print
(what a client gets). Debian's chromium (`apt-get install chromium`, or `make chromium`).

Each call starts its own browser with a throwaway profile, no network services of its own
(no sync, component updates, QUIC, background fetches), and kills the whole process group when
it overruns its timeout. The pages themselves load nothing: they are self-contained.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
from pathlib import Path

CHROMIUM = Path(os.environ.get("SYNCD_CHROMIUM", "/usr/bin/chromium"))
A4_WIDTH_PX = 794  # 210 mm at 96 CSS pixels per inch
TIMEOUT = 90.0  # seconds per call; a report page takes about one

COMMON_FLAGS = (
    "--headless",
    "--no-sandbox",  # root in a container has no user namespaces for the sandbox
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-dev-shm-usage",  # a small /dev/shm (docker's 64 MB) crashes the renderer
    "--hide-scrollbars",
    "--font-render-hinting=none",
)


class ChromiumError(RuntimeError):
    """Chromium could not make the screenshot or the PDF."""


class ChromiumMissing(ChromiumError):
    """There is no Chromium to run."""


def available() -> bool:
    return CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)


def screenshot(
    html_path: Path,
    png_path: Path,
    width: int = 1240,
    height: int = 1754,
    *,
    page_width: int | None = A4_WIDTH_PX,
    timeout: float = TIMEOUT,
) -> Path:
    """A `width`×`height` PNG of the top of the page. By default the page is laid out in a
    window one A4 page wide (`page_width` CSS pixels) and scaled to `width`, so the default
    1240×1754 looks like the printed page at 150 dpi; `page_width=None` lays it out `width`
    pixels wide at scale 1. Returns `png_path`."""
    if width < 1 or height < 1:
        raise ValueError(f"screenshot size {width}x{height} must be positive")
    png_path = Path(png_path)
    window, scale = _window(width, height, page_width)
    _run(
        html_path,
        png_path,
        [
            f"--window-size={window[0]},{window[1]}",
            f"--force-device-scale-factor={scale!r}",
            f"--screenshot={png_path.resolve()}",
        ],
        timeout,
    )
    return png_path


def _window(width: int, height: int, page_width: int | None) -> tuple[tuple[int, int], float]:
    """The window (CSS pixels) and scale that give a `width`×`height` PNG. Chromium rounds
    window × scale to whole pixels, so not every height is reachable for one window width: try
    a few slightly narrower windows."""
    if page_width is None or page_width >= width:
        return (width, height), 1.0
    for css_width in range(page_width, max(page_width - 40, 1), -1):
        scale = width / css_width
        css_height = round(height / scale)
        if round(css_height * scale) == height and round(css_width * scale) == width:
            return (css_width, css_height), scale
    scale = width / page_width
    return (page_width, round(height / scale)), scale


def print_pdf(html_path: Path, pdf_path: Path, *, timeout: float = TIMEOUT) -> Path:
    """The page printed to PDF: page size and margins from the page's CSS (`@page`), no
    browser header or footer. Returns `pdf_path`."""
    return _run(
        html_path,
        Path(pdf_path),
        [f"--print-to-pdf={Path(pdf_path).resolve()}", "--no-pdf-header-footer"],
        timeout,
    )


def _run(html_path: Path, output: Path, flags: list[str], timeout: float) -> Path:
    if not available():
        raise ChromiumMissing(
            f"{CHROMIUM} not found: install Debian's chromium (`apt-get install chromium`, "
            "or `make chromium`), or point SYNCD_CHROMIUM at a Chromium binary"
        )
    page = Path(html_path).resolve()
    if not page.is_file():
        raise FileNotFoundError(f"no HTML page at {page}")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.unlink(missing_ok=True)  # a file left from an earlier run is not a result
    with tempfile.TemporaryDirectory(prefix="syncd-chromium-") as profile:
        env = {
            **os.environ,
            "HOME": profile,
            "XDG_CONFIG_HOME": profile,
            "XDG_CACHE_HOME": profile,
        }
        args = [str(CHROMIUM), *COMMON_FLAGS, f"--user-data-dir={profile}", *flags, page.as_uri()]
        proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            start_new_session=True,  # its own process group: a timeout kills every helper
        )
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            raise ChromiumError(
                f"chromium did not finish {output.name} within {timeout:g} s"
            ) from None
        except BaseException:  # interrupted: do not leave a browser behind
            _kill_group(proc)
            raise
    if proc.returncode != 0 or not output.is_file() or output.stat().st_size == 0:
        tail = _tail(err or out)
        raise ChromiumError(
            f"chromium could not write {output} (exit status {proc.returncode}): {tail}"
        )
    return output


def _kill_group(proc: subprocess.Popen) -> None:
    """Kills the browser's process group. Only while the browser is not yet reaped: then the
    group id is still its pid and cannot belong to anyone else."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()


def _tail(stream: bytes, lines: int = 8) -> str:
    text = stream.decode("utf-8", "replace").strip().splitlines()
    useful = [x for x in text if "dbus" not in x.lower()] or text
    return " | ".join(useful[-lines:]) or "no output"
