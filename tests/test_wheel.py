"""The wheel stands alone, on the oldest Python we claim (scripts/wheel_check.py).

Built from the repository, installed with no extras into a fresh venv: no Spark, Dask
or pandas comes with it; the extension loads, the collector serves its page and the
assets it names, and every cell of notebook 01 runs.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_wheel_alone_runs_notebook_01_on_the_oldest_python(tmp_path):
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "wheel_check.py"), "--work", str(tmp_path / "w")],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    claimed = (ROOT / "pyproject.toml").read_text().split('requires-python = ">=')[1].split('"')[0]
    assert report["python"].startswith(claimed + ".")
    assert report["absent_present"] == [] and report["failed"] == []
    assert report["times_misread"] == []  # an audit reads every ISO form on 3.10 too
    assert report["cells"] >= 10 and report["events"] >= 5
    assert report["assets"] and set(report["assets"].values()) == {200}
    assert "site-packages" in report["location"]
