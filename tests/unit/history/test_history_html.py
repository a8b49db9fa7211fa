"""``edgecheck history html``: one static page, opened in headless Chromium.

The page must load from disk without a console message (error or otherwise) and show one
chart per series. Chromium is run for real; where it is not installed (or cannot start) the
browser test is skipped with the reason.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from test_history_cli import fill

from edgecheck.cli import main
from edgecheck.history import simulate as sim
from edgecheck.history.html import charts_of, page
from edgecheck.history.store import HistoryStore

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "chrome")


def browser() -> str:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    pytest.skip(f"no headless Chromium here (looked for {', '.join(BROWSERS)}); "
                "'apt-get install chromium' to run this test")  # fmt: skip


def load(chrome: str, url: str, profile: Path) -> tuple[str, list[str]]:
    """The page's DOM after its scripts ran, and the console lines Chromium logged."""
    try:
        done = subprocess.run(
            [chrome, "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr",
             "--v=0", f"--user-data-dir={profile}", "--virtual-time-budget=3000",
             "--dump-dom", url],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"Chromium could not start or load a page here: {exc}")
    if done.returncode != 0 or "<html" not in done.stdout:
        last = done.stderr.strip().splitlines()[-1:] or ["no output"]
        pytest.skip(f"Chromium could not start here (status {done.returncode}): {last[0]}")
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    return done.stdout, console


@pytest.fixture
def store(tmp_path: Path) -> Path:
    path = tmp_path / "h.sqlite"
    s = sim.make_series(sim.step_levels(40, [(20, 0.06)]), np.random.default_rng(2), noise=0.01)
    fill(path, s.values * 0.02)  # a timing with a step, and an exact metric (2 series)
    return path


def test_page_has_one_chart_per_series_with_escaped_text(store: Path, tmp_path: Path) -> None:
    with HistoryStore(store) as h:
        charts = charts_of(h)
    text = page(charts, source="<store>")
    assert len(charts) == 2 and text.count('<svg class="chart"') == 2
    assert "&lt;store&gt;" in text and "<store>" not in text
    assert text.count('class="change worse"') == 1  # the 6 % step
    assert "http" not in text.replace('xmlns="http://www.w3.org/2000/svg"', "")  # no fetches


def test_html_command_page_loads_in_chromium_without_console_messages(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "site"
    assert main(["history", "html", str(out), "--store", str(store)]) == 0
    assert "2 chart(s)" in capsys.readouterr().out
    chrome = browser()
    # The check has teeth: a page with a script error shows up in the console lines.
    bad = tmp_path / "bad.html"
    bad.write_text("<html><body><script>missingFunction();</script></body></html>")
    _, console = load(chrome, bad.as_uri(), tmp_path / "profile-bad")
    assert any("missingFunction" in line for line in console), console
    dom, console = load(chrome, (out / "index.html").as_uri(), tmp_path / "profile")
    assert console == []
    assert re.search(r'<body[^>]*data-charts="2"', dom), dom[:500]  # the script ran
    assert dom.count('<svg class="chart"') == 2
    assert dom.count('<li><a href="#m-') == 2  # the table of contents it built
