"""The wheel stands alone: build it, install it with no extras into a fresh venv of the
oldest Python that pyproject.toml claims, and use it there.

Inside that venv (``--inside``): nothing of Spark, Dask or the test tools is present;
the extension loads; the collector starts and serves its page and every asset the
page names (package data); and notebook 01's cells all run. ``make test`` runs this
through tests/test_wheel.py; it prints one JSON line with what it saw.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "01-getting-started.ipynb"
ABSENT = ("pyspark", "dask", "distributed", "pandas", "polars", "pyarrow", "pytest", "playwright")


def oldest_python() -> tuple[str, str]:
    """The lowest Python version pyproject.toml claims, and an interpreter of it."""
    text = (ROOT / "pyproject.toml").read_text()
    found = re.search(r'requires-python\s*=\s*">=\s*(\d+)\.(\d+)"', text)
    if found is None:
        raise SystemExit("pyproject.toml has no requires-python >= X.Y")
    version = f"{found[1]}.{found[2]}"
    pyenv = Path.home().glob(f".pyenv/versions/{version}.*/bin/python3")
    candidates = sorted(str(p) for p in pyenv)
    candidates += [shutil.which(f"python{version}") or "", f"/usr/bin/python{version}"]
    for candidate in candidates:
        if candidate and Path(candidate).exists():
            runs = subprocess.run([candidate, "-c", "import venv"], capture_output=True)
            if runs.returncode == 0:  # (a pyenv shim of a version not selected does not run)
                return version, candidate
    raise SystemExit(f"no Python {version} here: pyproject.toml claims it, so it must be tested "
                     f"(pyenv install {version})")  # fmt: skip


def build_and_install(work: Path) -> tuple[Path, str]:
    if work.exists():
        shutil.rmtree(work)
    wheels = work / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w",
                    str(wheels), str(ROOT)], check=True)  # fmt: skip
    (wheel,) = wheels.glob("segment_magics-*.whl")
    version, python = oldest_python()
    venv = work / f"venv-{version}"
    subprocess.run([python, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, str(wheel)], check=True)
    return venv / "bin" / "python", wheel.name


def inside() -> dict[str, object]:
    """Run in the fresh venv: what the wheel alone can do."""
    import importlib.util

    present = [name for name in ABSENT if importlib.util.find_spec(name) is not None]
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    import segment_magics

    location = Path(segment_magics.__file__).resolve()
    assert "site-packages" in location.parts, f"not the installed wheel: {location}"
    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    shell = InteractiveShell.instance(config=config)  # what get_ipython() answers
    notebook = json.loads(NOTEBOOK.read_text())
    failed = []
    cells = 0
    for cell in notebook["cells"]:
        if cell["cell_type"] != "code":
            continue
        cells += 1
        outcome = shell.run_cell("".join(cell["source"]))
        if not outcome.success and "raises-exception" not in cell["metadata"].get("tags", []):
            failed.append(f"{''.join(cell['source'])[:60]!r}: {outcome.error_in_exec!r}")
    from segment_magics.magics import get_session

    collector = get_session(shell).collector
    assert collector is not None
    page = urllib.request.urlopen(collector.url + "/", timeout=10).read().decode()
    assets = sorted(set(re.findall(r'(?:src|href)="/?([^"#?:]+)', page)))
    fetched = {a: urllib.request.urlopen(f"{collector.url}/{a}", timeout=10).status for a in assets}
    from importlib import resources

    widget = resources.files("segment_magics.inspector")
    for name in ("inspector.js", "inspector.css"):  # the event inspector's front end
        fetched[name] = 200 if widget.joinpath(name).read_text().strip() else 404
    events = collector.events(limit=100)
    return {"python": sys.version.split()[0], "location": str(location), "absent_present": present,
            "cells": cells, "failed": failed, "page_bytes": len(page), "assets": fetched,
            "events": len(events), "times_misread": times_misread()}  # fmt: skip


def times_misread() -> list[str]:
    """ISO forms this Python's own ``fromisoformat`` may not read (3.10 reads neither
    ``+0530`` nor ``.12``): an audit must still order and window them by their instant."""
    from segment_magics.plan import audit
    from segment_magics.plan.audit_report import utc_stamp

    stamps = {"2024-01-01T10:00:00.12+05:30": "2024-01-01T04:30:00.120Z",
              "2024-01-01T10:00:00+0530": "2024-01-01T04:30:00.000Z",
              "2024-01-01 10:00:00.5-08:00": "2024-01-01T18:00:00.500Z"}  # fmt: skip
    wrong = [f"{given} -> {utc_stamp(given)}" for given, want in stamps.items()
             if utc_stamp(given) != want]  # fmt: skip
    try:
        audit("ecommerce", [], since="2024-01-01T10:00:00.5", until="2024-01-02T00:00:00+0530")
    except ValueError as exc:
        wrong.append(f"window: {exc}")
    return wrong


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, default=ROOT / "build" / "wheel-check")
    args = parser.parse_args()
    if args.inside:
        print(json.dumps(inside()))
        return 0
    python, wheel = build_and_install(args.work)
    done = subprocess.run([str(python), str(Path(__file__).resolve()), "--inside"],
                          capture_output=True, text=True, cwd=args.work, timeout=600)  # fmt: skip
    if done.returncode != 0:
        print(done.stdout[-3000:], done.stderr[-5000:], file=sys.stderr)
        return 1
    report = json.loads(done.stdout.strip().splitlines()[-1])
    report["wheel"] = wheel
    print(json.dumps(report))
    ok = not report["failed"] and not report["absent_present"] and report["events"] > 0
    return 0 if ok and all(status == 200 for status in report["assets"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
