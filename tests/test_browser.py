"""The form in JupyterLab, in Debian's chromium driven by Playwright, against the collector.

Starts JupyterLab on 127.0.0.1 (token, temp dir), opens a notebook that shows the
form, fills it and clicks Send for all six calls, then checks the collector and
the result tables in the page. Saves screenshots to test-artifacts/.
"""

from __future__ import annotations

import contextlib
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
        # %segment_connect URL asks for the key Segment would (only `local` needs none)
        "SEGMENT_WRITE_KEY": "browser-test-key",
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
    return save_notebook(root, "form.ipynb", cells)


def save_notebook(root: Path, name: str, cells: list[str]) -> str:
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
    (root / name).write_text(json.dumps(nb))
    return name


def accept_kernel_dialog(page) -> None:
    """On a loaded machine JupyterLab may ask which kernel to start ("Select Kernel")
    instead of starting the notebook's own; accept its choice (the notebook's python3)."""
    dialog = page.locator(".jp-Dialog")
    if dialog.count() and dialog.first.is_visible():
        dialog.first.locator(".jp-mod-accept").click()
        dialog.first.wait_for(state="detached", timeout=30_000)


def run_cells(page, count: int) -> None:
    """Shift+Enter through the cells. A request sent while the kernel is still connecting
    can be dropped by the page, so a cell that shows no execution count is run again."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    cells = page.locator(".jp-Notebook .jp-CodeCell")
    for index in range(count):
        prompt = cells.nth(index).locator(".jp-InputPrompt")
        for _attempt in range(6):
            try:
                accept_kernel_dialog(page)
                cells.nth(index).locator(".jp-InputArea-editor").click(timeout=10_000)
                page.keyboard.press("Shift+Enter")
                prompt.filter(has_text=re.compile(r"\[\d+\]")).wait_for(timeout=10_000)
                break
            except PlaywrightTimeout:  # a dialog in the way, or a dropped request: again
                continue
        else:
            pytest.fail(f"cell {index + 1} never ran in JupyterLab")


@contextlib.contextmanager
def notebook_page(
    jupyterlab, name: str, cells: int, height: int, failure: str, shows: str = ".sm-form"
):
    """Open notebook ``name`` in JupyterLab in chromium, run its first ``cells`` cells and
    yield (page, the first element matching ``shows``); a failure saves a full-page
    screenshot first."""
    from playwright.sync_api import expect, sync_playwright

    url, token, _root = jupyterlab
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": height})
        try:
            page.goto(f"{url}/lab/tree/{name}?token={token}", wait_until="domcontentloaded")
            page.locator(".jp-Notebook").first.wait_for(timeout=60_000)
            expect(
                page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']")
            ).to_have_count(1, timeout=60_000)
            run_cells(page, cells)
            form = page.locator(shows).first
            form.wait_for(timeout=60_000)
            yield page, form
        except Exception:
            page.screenshot(path=str(ARTIFACTS / failure), full_page=True)
            raise
        finally:
            browser.close()


@contextlib.contextmanager
def browser_page(width: int, height: int, failure: str):
    """A page in Debian's chromium; a failure saves a full-page screenshot first."""
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": width, "height": height})
        try:
            yield page
        except Exception:
            page.screenshot(path=str(ARTIFACTS / failure), full_page=True)
            raise
        finally:
            browser.close()


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
    from playwright.sync_api import expect

    name = write_notebook(jupyterlab[2], collector.url)
    with notebook_page(jupyterlab, name, 3, 1000, "failure.png") as (page, form):
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
    track = collector.events(type="track")[0]
    assert track["properties"] == {"total": 42, "currency": "USD"}
    assert track["userId"] == "browser-user"
    assert shutil.which("chromium") or Path(CHROMIUM).exists()


# -- issue 12: readable in light and dark, a form that fits ----------------------------
CONTRAST_JS = """
(els) => {
  const parse = (c) => {
    const srgb = c.match(/color\\(srgb ([^)]+)\\)/);  // what color-mix() computes to
    if (srgb) { const [rgb, alpha] = srgb[1].split('/');
      const p = rgb.trim().split(/\\s+/).map(Number);
      return [p[0]*255, p[1]*255, p[2]*255, alpha ? Number(alpha) : 1]; }
    const m = c.match(/rgba?\\(([^)]+)\\)/); if (!m) throw new Error('colour ' + c);
    const p = m[1].split(',').map(Number); return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1]; };
  const over = (top, under) => { const a = top[3];
    return [0,1,2].map(i => top[i]*a + under[i]*(1-a)).concat([1]); };
  const background = (el) => { const layers = [];
    for (let e = el; e; e = e.parentElement) { const c = parse(getComputedStyle(e).backgroundColor);
      if (c[3] > 0) { layers.push(c); if (c[3] >= 1) break; } }
    let color = [255,255,255,1];
    for (const layer of layers.reverse()) color = over(layer, color);
    return color; };
  const lum = (c) => { const f = (v) => { v /= 255; return v <= 0.03928 ? v/12.92 : Math.pow((v+0.055)/1.055, 2.4); };
    return 0.2126*f(c[0]) + 0.7152*f(c[1]) + 0.0722*f(c[2]); };
  return els.map((el) => { const fg = over(parse(getComputedStyle(el).color), background(el));
    const bg = background(el); const [a, b] = [lum(fg), lum(bg)].sort((x, y) => y - x);
    return {text: el.textContent.trim().slice(0, 40), ratio: (a + 0.05) / (b + 0.05)}; });
}
"""


def theme_notebook(root: Path, collector_url: str) -> str:
    cells = [
        "%load_ext segment_magics",
        f"%segment_connect {collector_url}",
        "%%segment_plan\nOrder Completed\n  order_id: string!",
        '%segment_track "Order Completed" --user-id u1 --properties {"total": 5}',
        '%segment_track "Order Completed" --user-id u1 --timestamp yesterday',
        "%segment_history",
        "order = {f'field_{i}': i for i in range(12)}\n"
        "%segment_form identify --user-id u1 --traits order",
    ]
    return save_notebook(root, "themes.ipynb", cells)


def use_theme(page, name: str) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text="Settings").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Theme").first.hover()
    page.locator(".lm-Menu-itemLabel", has_text=name).first.click()
    page.wait_for_function(
        f"document.body.dataset.jpThemeName === {json.dumps(name)}", timeout=30_000
    )
    page.wait_for_timeout(800)


def test_tables_and_form_read_well_in_light_and_dark(jupyterlab, collector):
    from playwright.sync_api import expect

    name = theme_notebook(jupyterlab[2], collector.url)
    with notebook_page(jupyterlab, name, 7, 1400, "failure-themes.png") as (page, form):
        # connection, two results (one failed), history; the plan says one line
        expect(page.locator(".sm-table")).to_have_count(4, timeout=30_000)
        expect(page.locator(".sm-line", has_text="is active")).to_have_count(1)
        for theme, slug in (("JupyterLab Light", "light"), ("JupyterLab Dark", "dark")):
            use_theme(page, theme)
            texts = page.locator(
                ".sm-table th, .sm-table td, .sm-table caption, .sm-table .sm-fail, "
                ".sm-table .sm-ok"
            ).element_handles()
            found = page.evaluate(CONTRAST_JS, texts)
            low = [f for f in found if f["text"] and f["ratio"] < 4.5]
            assert not low, f"{theme}: text below 4.5:1 contrast: {low[:5]}"
            footers = page.locator(".sm-footer, .sm-details summary").element_handles()
            dim = [f for f in page.evaluate(CONTRAST_JS, footers) if f["ratio"] < 3]
            assert not dim, f"{theme}: notes below 3:1 contrast: {dim[:5]}"
            page.locator(".sm-table").first.scroll_into_view_if_needed()
            page.screenshot(path=str(ARTIFACTS / f"tables-{slug}.png"), full_page=True)
            history = page.locator(".sm-table", has_text="Segment history").first
            width = history.bounding_box()["width"]
            assert width <= 1000, f"the history table is {width:.0f} px wide"
            check_form(page, form, theme)
            form.screenshot(path=str(ARTIFACTS / f"form-{slug}.png"))


def check_form(page, form, theme: str) -> None:
    """Placeholders look unlike values, nothing overflows, labels fit, JSON shows whole."""
    boxes = form.locator("input[type='text'], textarea")
    edge = form.bounding_box()
    for index in range(boxes.count()):
        box = boxes.nth(index)
        if not box.is_visible():
            continue
        rect = box.bounding_box()
        assert rect["x"] + rect["width"] <= edge["x"] + edge["width"] + 1, f"{theme}: clipped"
    styles = page.evaluate(
        """(form) => { const empty = [...form.querySelectorAll('input[type=text]')]
             .find(e => !e.value && e.offsetParent);
           const full = [...form.querySelectorAll('input[type=text]')].find(e => e.value);
           const ph = getComputedStyle(empty, '::placeholder');
           return {placeholder: ph.color, italic: ph.fontStyle, value: getComputedStyle(full).color,
                   labels: [...form.querySelectorAll('.widget-label')].filter(l => l.offsetParent)
                     .map(l => [l.textContent, l.scrollWidth <= l.clientWidth + 1]),
                   editor: [...form.querySelectorAll('textarea')].filter(t => t.value)
                     .map(t => t.scrollHeight <= t.clientHeight + 4)}; }""",
        form.element_handle(),
    )
    assert styles["placeholder"] != styles["value"] and styles["italic"] == "italic", styles
    assert all(fits for _, fits in styles["labels"]), f"{theme}: {styles['labels']}"
    assert styles["editor"] and all(styles["editor"]), f"{theme}: a JSON editor hides lines"


def test_completion_in_jupyterlab_offers_planned_events_and_options(jupyterlab, collector):
    """Tab in a JupyterLab cell: the plan's event names, then the call's options."""
    from playwright.sync_api import expect

    cells = [
        "%load_ext segment_magics",
        f"%segment_connect {collector.url}",
        "%%segment_plan\nOrder Completed\n  order_id: string!\nOrder Refunded\n  order_id: string!",
        '%segment_track "Order',
        '%segment_track "Order Completed" --user-id u1 --prop',
    ]
    name = save_notebook(jupyterlab[2], "completion.ipynb", cells)
    with notebook_page(jupyterlab, name, 3, 900, "failure-completion.png", ".sm-table") as (
        page,
        _table,
    ):
        editors = page.locator(".jp-Notebook .jp-CodeCell .jp-InputArea-editor")
        completer = page.locator(".jp-Completer")

        def tab_at_end(index: int) -> None:
            editors.nth(index).click()
            page.keyboard.press("End")
            page.keyboard.press("Tab")

        tab_at_end(3)  # two planned events start with "Order: both are offered
        completer.wait_for(state="visible", timeout=30_000)
        offered = completer.locator(".jp-Completer-item").all_inner_texts()
        assert any("Order Completed" in o for o in offered), offered
        assert any("Order Refunded" in o for o in offered), offered
        page.screenshot(path=str(ARTIFACTS / "completion-jupyterlab.png"))
        completer.locator(".jp-Completer-item", has_text="Order Refunded").click()
        expect(editors.nth(3)).to_have_text('%segment_track "Order Refunded"', timeout=30_000)
        tab_at_end(4)  # the call's options
        completer.wait_for(state="visible", timeout=30_000)
        page.keyboard.press("Enter")
        expect(editors.nth(4)).to_have_text(
            '%segment_track "Order Completed" --user-id u1 --properties', timeout=30_000
        )


# -- issue 18: big runs read at a glance, every call shows -------------------------------
def big_run_notebook(root: Path, collector_url: str) -> str:
    cells = [
        "%load_ext segment_magics",
        f"%segment_connect {collector_url}",
        "%segment_plan load ecommerce",
        "import pandas as pd\n"
        "rows = pd.DataFrame({'userId': [f'u{i}' for i in range(20_000)],\n"
        "                     'order_id': [f'o{i}' for i in range(20_000)],\n"
        "                     'total': [2**70 if i in (7, 9_000) else float(i) for i in range(20_000)],\n"
        "                     'note': ['x'] * 20_000})\n"
        "rows['total'] = rows['total'].astype(object)\n"
        '%segment_track "Order Completed" --from rows --no-progress',
        '%segment_track "First" --user-id u --dry-run\n%segment_track "Second" --user-id u --dry-run',
    ]
    return save_notebook(root, "big-run.ipynb", cells)


def test_a_big_run_reads_at_a_glance_and_every_call_shows(jupyterlab, collector):
    from playwright.sync_api import expect

    name = big_run_notebook(jupyterlab[2], collector.url)
    with notebook_page(jupyterlab, name, 5, 1400, "failure-big-run.png", ".sm-table") as (
        page,
        _table,
    ):
        cells = page.locator(".jp-Notebook .jp-CodeCell")
        problems = cells.nth(3).locator(".sm-table", has_text="Problems, grouped by reason")
        expect(problems).to_have_count(1, timeout=120_000)
        groups = problems.locator("tbody tr")
        first = groups.first.inner_text()
        assert first.startswith("invalid") and "64 bits" in first and "7, 9000" in first, first
        assert groups.count() >= 2 and "sent with violations" in groups.nth(1).inner_text()
        summary = cells.nth(3).locator(".sm-table").first.inner_text()
        assert "Invalid (not sent)\t2" in summary and "19,998 rows with violations" in summary
        two = cells.nth(4).locator(".sm-table caption")
        expect(two).to_have_count(2, timeout=30_000)
        assert two.all_inner_texts() == ["Segment track · First", "Segment track · Second"]
        for theme, slug in (("JupyterLab Light", "light"), ("JupyterLab Dark", "dark")):
            use_theme(page, theme)
            texts = problems.locator("th, td, caption, .sm-fail").element_handles()
            low = [f for f in page.evaluate(CONTRAST_JS, texts) if f["text"] and f["ratio"] < 4.5]
            assert not low, f"{theme}: text below 4.5:1 contrast: {low[:5]}"
            cells.nth(3).scroll_into_view_if_needed()
            cells.nth(3).locator(".jp-OutputArea").screenshot(
                path=str(ARTIFACTS / f"grouped-problems-{slug}.png")
            )


def test_the_form_fits_a_narrow_panel(jupyterlab, collector):
    from playwright.sync_api import expect

    name = write_notebook(jupyterlab[2], collector.url)
    with notebook_page(jupyterlab, name, 3, 900, "failure-narrow-form.png") as (page, form):
        page.set_viewport_size({"width": 640, "height": 900})
        page.wait_for_timeout(800)
        edge = form.bounding_box()
        buttons = form.locator(".sm-kind button")
        expect(buttons).to_have_count(6)
        for index in range(6):
            rect = buttons.nth(index).bounding_box()
            assert rect["x"] + rect["width"] <= edge["x"] + edge["width"] + 1, "a call is cut off"
        header = form.locator(".sm-hint").first.bounding_box()
        title = form.locator("b", has_text="Segment call").first.bounding_box()
        assert abs(header["y"] - title["y"]) < 4  # "(* required)" stays beside its title
        form.locator("button.sm-send").click()
        notice = form.locator(".sm-output", has_text="Not sent: fix these fields first")
        expect(notice).to_have_count(1, timeout=30_000)
        box = form.locator(".sm-event input").first
        box.fill("Fixed")
        box.press("Tab")
        expect(notice).to_have_count(0, timeout=30_000)
        form.screenshot(path=str(ARTIFACTS / "form-narrow.png"))


# -- the tutorial notebooks, in JupyterLab 4 and Notebook 7 ---------------------------------
TUTORIALS = ["01-getting-started.ipynb", "02-tracking-plan-prototyping.ipynb",
             "03-bulk-backfill.ipynb"]  # fmt: skip
FRONTENDS = {"lab": "/lab/tree/{name}", "notebook7": "/notebooks/{name}"}


def run_all(page) -> None:
    """Run → Run All Cells, from the menu bar both front ends share."""
    accept_kernel_dialog(page)
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).first.click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).first.click()


@pytest.mark.parametrize("frontend", sorted(FRONTENDS))
def test_the_tutorial_notebooks_run_in_jupyterlab_and_notebook_7(jupyterlab, frontend):
    """Every code cell of notebooks 01-03 runs (cells tagged raises-exception fail on
    purpose and the run goes on); the result tables show; screenshots are saved."""
    from playwright.sync_api import expect, sync_playwright

    url, token, root = jupyterlab
    for name in TUTORIALS:
        shutil.copy(Path(__file__).parents[1] / "notebooks" / name, root / name)
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        for name in TUTORIALS:
            code_cells = sum(c["cell_type"] == "code"
                             for c in json.loads((root / name).read_text())["cells"])  # fmt: skip
            shot = ARTIFACTS / f"tutorial-{frontend}-{name.split('-')[0]}.png"
            try:
                page.goto(url + FRONTENDS[frontend].format(name=name) + f"?token={token}",
                          wait_until="domcontentloaded")  # fmt: skip
                shown = page.locator(".jp-Notebook:visible")  # (earlier ones stay open in tabs)
                shown.first.wait_for(timeout=60_000)
                expect(shown.locator(".jp-CodeCell")).to_have_count(code_cells, timeout=60_000)
                page.wait_for_timeout(1000)  # the kernel connects
                run_all(page)
                prompts = shown.locator(".jp-CodeCell .jp-InputPrompt")
                expect(prompts.filter(has_text=re.compile(r"\[\d+\]"))).to_have_count(
                    code_cells, timeout=240_000
                )
                expect(shown.locator(".sm-table, .sm-line").first).to_be_attached()
                page.screenshot(path=str(shot), full_page=True)
            except Exception:
                page.screenshot(path=str(shot.with_name("failure-" + shot.name)), full_page=True)
                raise
        browser.close()


EXPORT_CONTRAST_JS = """
() => {
  const rgb = (text) => (text.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => [r, g, b].map((v) => { v /= 255;
      return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; })
    .reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
  const backdrop = (el) => {  // the first opaque background up the tree (white at the top)
    for (let node = el; node; node = node.parentElement) {
      const [r, g, b, a] = rgb(getComputedStyle(node).backgroundColor);
      if (a === undefined || a > 0.5) return [r, g, b];
    }
    return [255, 255, 255];
  };
  const cells = [...document.querySelectorAll('.sm-table td, .sm-table th, .sm-line')];
  return cells.filter((c) => c.innerText.trim()).map((c) => {
    const target = c.querySelector('.sm-ok, .sm-fail') || c;
    const [fg, bg] = [lum(rgb(getComputedStyle(target).color)), lum(backdrop(c))];
    const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
    return {text: c.innerText.slice(0, 40), ratio, visible: c.getBoundingClientRect().width > 0};
  });
}
"""


@pytest.mark.parametrize("template", ["lab", "classic", "basic"])
def test_an_nbconvert_export_keeps_the_tables_readable(template, tmp_path):
    """Outside JupyterLab (nbconvert's HTML; "basic" has no notebook CSS at all, like a
    host that knows nothing of JupyterLab) the tables fall back to the colours they carry:
    every cell is shown and keeps 4.5:1 contrast."""
    import nbformat
    from nbclient import NotebookClient
    from nbconvert import HTMLExporter
    from playwright.sync_api import sync_playwright

    notebook = nbformat.read(Path(__file__).parents[1] / "notebooks" / "01-getting-started.ipynb",
                             as_version=4)  # fmt: skip
    NotebookClient(notebook, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()  # fmt: skip
    body, _ = HTMLExporter(template_name=template).from_notebook_node(notebook)
    if template == "basic":
        body = f"<!DOCTYPE html><html><head><meta charset='utf-8'></head><body>{body}</body></html>"
    page_file = tmp_path / f"export-{template}.html"
    page_file.write_text(body)
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        page.goto(page_file.as_uri())
        cells = page.evaluate(EXPORT_CONTRAST_JS)
        page.screenshot(path=str(ARTIFACTS / f"nbconvert-{template}.png"), full_page=True)
        browser.close()
    assert len(cells) > 30
    assert all(c["visible"] for c in cells)
    poor = [c for c in cells if c["ratio"] < 4.5]
    assert not poor, poor[:5]


# -- the event inspector widget ---------------------------------------------------------------
INSPECTOR_CELLS = [
    "%load_ext segment_magics",
    "%segment_connect local",
    "%segment_plan load ecommerce",
    "%segment_debugger",
    # sent after the widget is shown
    '%segment_track "Order Completed" --user-id ada --properties {"order_id": "o1", "revenue": -5}\n'
    '%segment_track "Order Completed" --user-id bob --properties {"order_id": "o2", "revenue": 12}\n'
    "%segment_identify ada --email ada@example.com",
    "from segment_magics.magics import get_session\n"
    "get_session().client.send_many([{'type': 'track', 'event': 'Burst', 'userId': f'u{n}'}"
    " for n in range(100_000)], progress=False).accepted",
]


def _only_jupyter(page, jupyter_url: str) -> list[str]:
    """Every browser request that is not to JupyterLab's own port fails: the widget must
    not need the collector's port (as on JupyterHub, Colab or VS Code remote)."""
    blocked: list[str] = []
    jupyter_port = jupyter_url.rsplit(":", 1)[1]

    def route(r) -> None:
        url = r.request.url
        if url.startswith(("http://127.0.0.1", "http://localhost", "ws://")) and (
            f":{jupyter_port}/" not in url
        ):
            blocked.append(url)
            r.abort()
        else:
            r.continue_()

    page.route("**/*", route)
    return blocked


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_the_inspector_follows_events_without_the_collectors_port(jupyterlab, theme):
    from playwright.sync_api import expect, sync_playwright

    url, token, root = jupyterlab
    name = save_notebook(root, f"inspector-{theme}.ipynb", INSPECTOR_CELLS)
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1200})
        blocked = _only_jupyter(page, url)
        try:
            page.goto(f"{url}/lab/tree/{name}?token={token}", wait_until="domcontentloaded")
            page.locator(".jp-Notebook").first.wait_for(timeout=60_000)
            expect(page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']")
                   ).to_have_count(1, timeout=60_000)  # fmt: skip
            if theme == "dark":
                use_theme(page, "JupyterLab Dark")
            run_cells(page, 4)
            inspector = page.locator(".smi").first
            inspector.wait_for(timeout=60_000)
            expect(inspector.locator("[data-testid=inspector-row]")).to_have_count(0)
            run_cells_from(page, 4, 5)  # events sent after the widget was shown
            rows = inspector.locator("[data-testid=inspector-row]")
            expect(rows).to_have_count(3, timeout=15_000)
            # the verdict filter
            inspector.locator("[data-testid=inspector-filter-verdict]").select_option("violations")
            expect(rows).to_have_count(2, timeout=10_000)  # the two tracks; not the identify
            expect(rows.filter(has_text="identify")).to_have_count(0)
            rows.filter(has_text="ada").first.click()
            detail = inspector.locator("[data-testid=inspector-detail]")
            expect(detail.locator("[data-testid=inspector-payload]")).to_contain_text(
                '"order_id": "o1"'
            )
            expect(detail.locator("[data-testid=inspector-violations]")).to_contain_text(
                "properties.revenue"
            )
            # the violations tab, grouped; a group filters the list
            inspector.locator("[data-testid=inspector-filter-verdict]").select_option("")
            expect(rows).to_have_count(3, timeout=10_000)
            inspector.locator("[data-testid=inspector-tab-violations]").click()
            group = inspector.locator(
                "[data-testid=inspector-group]", has_text="properties.revenue"
            )
            expect(group).to_have_count(1)
            group.click()
            expect(inspector.locator("[data-testid=inspector-field]")).to_contain_text(
                "properties.revenue"
            )
            expect(rows).to_have_count(1, timeout=10_000)
            # up and down move the selection (the group's event and verdict filters stay)
            inspector.locator("[data-testid=inspector-field]").click()
            expect(rows).to_have_count(2, timeout=10_000)
            rows.nth(0).click()
            inspector.locator("[data-testid=inspector-list]").press("ArrowDown")
            expect(rows.nth(1)).to_have_attribute("aria-selected", "true")
            selector = (".smi .smi-row > span:not(.smi-badges), .smi .smi-badge, .smi .smi-summary, "
                        ".smi .smi-source, .smi .smi-payload")  # fmt: skip
            at_once = f"(sel) => ({CONTRAST_JS.strip()})([...document.querySelectorAll(sel)])"
            found = page.evaluate(at_once, selector)  # in one go: rows are redrawn live
            low = [f for f in found if f["text"] and f["ratio"] < 4.5]
            assert not low, low[:5]
            inspector.screenshot(path=str(ARTIFACTS / f"inspector-{theme}.png"))
            # a 600 px window, the file browser folded away
            page.set_viewport_size({"width": 600, "height": 1200})
            if page.locator(".jp-FileBrowser:visible").count():
                page.keyboard.press("Control+b")
            page.wait_for_timeout(500)
            box = inspector.bounding_box()
            assert box is not None and box["width"] <= 600
            inspector.screenshot(path=str(ARTIFACTS / f"inspector-600px-{theme}.png"))
            page.set_viewport_size({"width": 1400, "height": 1200})
            inspector.locator("[data-testid=inspector-filter-verdict]").select_option("")
            inspector.locator("[data-testid=inspector-filter-event]").fill("")
            expect(rows).to_have_count(3, timeout=10_000)
            # a burst of 100,000 events: the page stays interactive
            run_cells_from(page, 5, 6, wait=False)
            expect(inspector.locator("[data-testid=inspector-summary]")).to_contain_text(
                "of 100,003".replace(",", ""), timeout=120_000
            )
            for index in (0, 5):
                started = time.monotonic()
                rows.nth(index).click()
                expect(detail.locator("[data-testid=inspector-payload]")).to_contain_text(
                    '"Burst"', timeout=5_000
                )
                assert time.monotonic() - started < 1.0
            assert rows.count() <= 1000
            # the block is real: the page cannot reach the collector, and the widget never tried
            assert not blocked, blocked
            reach = "fetch('http://127.0.0.1:8791/health').then(() => 'reached', () => 'blocked')"
            assert page.evaluate(reach) == "blocked" and blocked
        except Exception:
            page.screenshot(path=str(ARTIFACTS / f"failure-inspector-{theme}.png"), full_page=True)
            raise
        finally:
            browser.close()


def run_cells_from(page, start: int, stop: int, wait: bool = True) -> None:
    """Run cells ``start`` .. ``stop - 1`` (0-based) by clicking into each and Shift+Enter."""
    cells = page.locator(".jp-Notebook .jp-CodeCell")
    for index in range(start, stop):
        cells.nth(index).locator(".jp-InputArea-editor").click()
        page.keyboard.press("Shift+Enter")
        if wait:
            cells.nth(index).locator(".jp-InputPrompt").filter(
                has_text=re.compile(r"\[\d+\]")
            ).wait_for(timeout=60_000)


def test_the_inspector_renders_in_notebook_7(jupyterlab):
    from playwright.sync_api import expect

    url, token, root = jupyterlab
    name = save_notebook(root, "inspector-nb7.ipynb", INSPECTOR_CELLS[:5])
    with browser_page(1200, 1000, "failure-inspector-notebook7.png") as page:
        page.goto(f"{url}/notebooks/{name}?token={token}", wait_until="domcontentloaded")
        page.locator(".jp-Notebook").first.wait_for(timeout=60_000)
        page.wait_for_timeout(1500)
        run_all(page)
        inspector = page.locator(".smi").first
        inspector.wait_for(timeout=60_000)
        expect(inspector.locator("[data-testid=inspector-row]")).to_have_count(3, timeout=30_000)
        inspector.screenshot(path=str(ARTIFACTS / "inspector-notebook7.png"))


def test_the_debugger_page_opens_through_jupyter_server_proxy(jupyterlab):
    """On a remote JupyterHub the browser reaches the kernel's machine only through the
    notebook server: %segment_connect local prints the page's /proxy/PORT/ link, and the
    page works there (its requests are relative)."""
    from playwright.sync_api import expect

    url, token, root = jupyterlab
    cells = ["%load_ext segment_magics", "%segment_connect local",
             '%segment_track "Proxied" --user-id ada']  # fmt: skip
    name = save_notebook(root, "proxied.ipynb", cells)
    with browser_page(1200, 900, "failure-proxied.png") as page:
        page.goto(f"{url}/lab/tree/{name}?token={token}", wait_until="domcontentloaded")
        page.locator(".jp-Notebook").first.wait_for(timeout=60_000)
        expect(page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']")
               ).to_have_count(1, timeout=60_000)  # fmt: skip
        run_cells(page, 3)
        link = page.locator("a", has_text="/proxy/").first
        link.wait_for(timeout=30_000)
        proxied = link.get_attribute("href")
        assert proxied and re.fullmatch(r"/proxy/\d+/", proxied), proxied
        page.goto(url + proxied)
        rows = page.locator("[data-testid=rows] tr.event")
        expect(rows).to_have_count(1, timeout=15_000)
        expect(rows.first.locator("[data-testid=label]")).to_have_text("Proxied")
        page.screenshot(path=str(ARTIFACTS / "debugger-through-jupyter.png"))
