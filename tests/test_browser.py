"""The form in JupyterLab, in Debian's chromium driven by Playwright, against the collector.

Starts JupyterLab on 127.0.0.1 (token, temp dir), opens a notebook that shows the
form, fills it and clicks Send for all six calls, then checks the collector and
the result tables in the page. Saves screenshots to test-artifacts/.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).parent.parent / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists() and not os.environ.get("CI"),
    reason="Debian's chromium is not installed (make test installs it; CI never skips)",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def jupyterlab(tmp_path):
    token = secrets.token_hex(16)
    port = free_port()
    root = tmp_path / "lab"
    root.mkdir()
    config = tmp_path / "config"
    (config / "labconfig").mkdir(parents=True)
    (config / "labconfig" / "page_config.json").write_text(  # no "Jupyter news?" toast
        json.dumps({"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}})
    )
    env = {
        **os.environ,
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "JUPYTER_CONFIG_DIR": str(config),
    }
    log = (tmp_path / "lab.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
         f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
         "--ServerApp.terminals_enabled=False", "--LabApp.news_url=", "--allow-root",
         "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
        stdout=log, stderr=subprocess.STDOUT, env=env,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/api/status", params={"token": token}, timeout=2).ok:
                break
        except requests.ConnectionError:
            pass
        if proc.poll() is not None:
            pytest.fail("JupyterLab exited:\n" + (tmp_path / "lab.log").read_text()[-3000:])
        time.sleep(0.3)
    else:
        proc.terminate()
        pytest.fail("JupyterLab did not start:\n" + (tmp_path / "lab.log").read_text()[-3000:])
    yield url, token, root
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


def write_notebook(root: Path, collector_url: str) -> str:
    cells = [
        "%load_ext segment_magics",
        f"%segment_connect {collector_url}",
        "%segment_form track --user-id browser-user",
    ]
    nb = {
        "cells": [
            {
                "cell_type": "code",
                "metadata": {},
                "source": c,
                "outputs": [],
                "execution_count": None,
            }
            for c in cells
        ],
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    (root / "form.ipynb").write_text(json.dumps(nb))
    return "form.ipynb"


def run_cells(page, count: int) -> None:
    """Shift+Enter through the cells. A request sent while the kernel is still connecting
    can be dropped by the page, so a cell that shows no execution count is run again."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    cells = page.locator(".jp-Notebook .jp-CodeCell")
    for index in range(count):
        prompt = cells.nth(index).locator(".jp-InputPrompt")
        for _attempt in range(6):
            cells.nth(index).locator(".jp-InputArea-editor").click()
            page.keyboard.press("Shift+Enter")
            try:
                prompt.filter(has_text=re.compile(r"\[\d+\]")).wait_for(timeout=10_000)
                break
            except PlaywrightTimeout:
                continue
        else:
            pytest.fail(f"cell {index + 1} never ran in JupyterLab")


CALLS = [
    (
        "track",
        {"event": "Browser Order", "properties": '{"total": 42, "currency": "USD"}'},
        "event",
        "Browser Order",
    ),
    ("identify", {"user-id": "browser-user", "email": "ada@example.com"}, "userId", "browser-user"),
    ("page", {"name": "Pricing", "user-id": "browser-user"}, "name", "Pricing"),
    ("screen", {"name": "Home", "user-id": "browser-user"}, "name", "Home"),
    (
        "group",
        {"group-id": "acme", "user-id": "browser-user", "traits": '{"employees": 50}'},
        "groupId",
        "acme",
    ),
    ("alias", {"previous-id": "anon-1", "user-id": "browser-user"}, "previousId", "anon-1"),
]


def test_form_sends_all_six_calls_from_a_real_browser(jupyterlab, collector):
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is missing: `make test` installs it with apt-get")
    from playwright.sync_api import expect, sync_playwright

    url, token, root = jupyterlab
    name = write_notebook(root, collector.url)
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        try:
            page.goto(f"{url}/lab/tree/{name}?token={token}", wait_until="domcontentloaded")
            page.locator(".jp-Notebook").first.wait_for(timeout=60_000)
            expect(
                page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']")
            ).to_have_count(1, timeout=60_000)
            run_cells(page, 3)
            form = page.locator(".sm-form")
            form.wait_for(timeout=60_000)
            for index, (kind, values, key, expected) in enumerate(CALLS):
                form.locator(".sm-kind button", has_text=kind).first.click()
                expect(form.locator(".sm-kind button.mod-active")).to_have_text(kind)
                page.wait_for_timeout(300)  # the fields box re-renders for the new call
                for field, value in values.items():
                    box = form.locator(f".sm-{field} input, .sm-{field} textarea").first
                    box.wait_for(state="visible")
                    box.fill(value)
                    box.press("Tab")  # blur, so the value is synced to the kernel
                    expect(box).to_have_value(value)
                page.wait_for_timeout(200)
                if kind == "track":
                    page.wait_for_timeout(300)
                    form.screenshot(path=str(ARTIFACTS / "form-track.png"))
                form.locator("button.sm-send").click()
                table = form.locator(".sm-output .sm-table")
                expect(table).to_contain_text(f"Segment {kind}", timeout=30_000)
                expect(table).to_contain_text("delivered", timeout=30_000)
                deadline = time.monotonic() + 20
                while time.monotonic() < deadline and collector.count() < index + 1:
                    time.sleep(0.2)
                (event,) = collector.events(type=kind)
                assert event[key] == expected
            page.screenshot(path=str(ARTIFACTS / "jupyterlab-form.png"), full_page=True)
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "failure.png"), full_page=True)
            raise
        finally:
            browser.close()
    track = collector.events(type="track")[0]
    assert track["properties"] == {"total": 42, "currency": "USD"}
    assert track["userId"] == "browser-user"
    assert shutil.which("chromium") or Path(CHROMIUM).exists()
