"""`make demo`: run the getting-started notebook against the embedded collector.

Executes notebooks/01-getting-started.ipynb headless (nbclient), prints each cell's
result tables as text, and writes an executed HTML copy to build/.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbconvert import HTMLExporter

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "01-getting-started.ipynb"
OUT_DIR = ROOT / "build"


def _text_of(output: dict) -> str:
    kind = output.get("output_type")
    if kind == "stream":
        return output.get("text", "")
    if kind == "error":
        expected = "(expected: the cell is tagged raises-exception)"
        return f"{output['ename']}: {output['evalue']}  {expected}"
    data = output.get("data", {})
    if "application/vnd.jupyter.widget-view+json" in data:
        return "(a widget: the form or the event inspector; open the notebook in JupyterLab)"
    return data.get("text/plain", "")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="where the HTML copy goes")
    out_dir = parser.parse_args().out
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
    )
    client.execute()
    width = 88
    for number, cell in enumerate(c for c in nb.cells if c.cell_type == "code"):
        print("=" * width)
        print(
            f"In [{number + 1}]: "
            + cell.source.splitlines()[0]
            + (" ..." if "\n" in cell.source else "")
        )
        for output in cell.get("outputs", []):
            text = _text_of(output).rstrip()
            if text:
                print(text)
    out_dir.mkdir(parents=True, exist_ok=True)
    html, _ = HTMLExporter().from_notebook_node(nb)
    target = out_dir / "01-getting-started.html"
    target.write_text(html, encoding="utf-8")
    print("=" * width)
    print(f"executed notebook written to {os.path.relpath(target)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
