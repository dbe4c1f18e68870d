"""Four Jupyter notebooks generated from code (funnel, elasticity, RFM, forecasting) that present the
analytics tables with Plotly charts, and their execution with nbclient on this environment's Python.

The notebooks are build output, not source: `pricing-platform notebooks build` writes them to NOTEBOOKS_DIR
(gitignored) and executes them against DATABASE_URL, so their outputs always show the current tables.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import nbformat
from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient

from pricing_platform.notebooks.content import NOTEBOOKS, NotebookSpec

KERNEL_NAME = "pricing-platform"
# The mime bundle renders in JupyterLab and VS Code without any network (the front end ships plotly.js);
# the HTML part lets classic Jupyter and nbconvert show the chart, loading plotly.js from its CDN on view.
PLOTLY_RENDERER = "plotly_mimetype+notebook_connected"
PLOTLY_MIME = "application/vnd.plotly.v1+json"

__all__ = ["NOTEBOOKS", "PLOTLY_MIME", "build", "execute", "write"]


class _ThisPythonKernelSpecs(KernelSpecManager):
    """Only one kernel: this interpreter's ipykernel, whatever kernelspecs the machine has installed (a
    system-wide `python3` spec would run another Python without this project's packages)."""

    def __init__(self, env: Mapping[str, str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._env = dict(env)

    def find_kernel_specs(self) -> dict[str, str]:
        return {KERNEL_NAME: str(Path(__file__).parent)}

    def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
        return KernelSpec(
            argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            display_name="Python (pricing-platform)",
            language="python",
            env=self._env,
            resource_dir=str(Path(__file__).parent),
        )


def build(spec: NotebookSpec) -> nbformat.NotebookNode:
    """The notebook of `spec`: a shared setup cell, then its markdown and code cells."""
    setup = (
        "import pandas as pd\n"
        "import plotly.express as px\n"
        "import plotly.io as pio\n"
        "from IPython.display import display\n\n"
        "from pricing_platform.analytics.store import read_table\n"
        "from pricing_platform.core.settings import get_settings\n\n"
        f'pio.renderers.default = "{PLOTLY_RENDERER}"\n'
        "DATABASE_URL = get_settings().database_conninfo\n\n\n"
        "def no_data(frame: pd.DataFrame, what: str) -> bool:\n"
        "    if frame.empty:\n"
        '        print(f"No {what} yet: the analytics_job (Dagster, every 15 minutes) has not written it.")\n'
        "    return frame.empty"
    )
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": KERNEL_NAME, "display_name": "Python (pricing-platform)",
                                       "language": "python"}  # fmt: skip
    notebook.metadata["language_info"] = {"name": "python"}
    cells = [
        nbformat.v4.new_markdown_cell(f"# {spec.title}\n\n{spec.intro}"),
        nbformat.v4.new_code_cell(setup),
    ]
    for kind, source in spec.cells:
        make = nbformat.v4.new_markdown_cell if kind == "md" else nbformat.v4.new_code_cell
        cells.append(make(source.strip("\n")))
    notebook.cells = cells
    nbformat.validate(notebook)
    return notebook


def write(directory: Path) -> list[Path]:
    """Writes every notebook, unexecuted, to `directory` (created); returns their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for spec in NOTEBOOKS:
        path = directory / f"{spec.name}.ipynb"
        nbformat.write(build(spec), path)
        paths.append(path)
    return paths


def execute(path: Path, database_url: str, timeout_s: int = 300) -> nbformat.NotebookNode:
    """Runs every cell of the notebook at `path` on this environment's Python with DATABASE_URL set, and
    saves the outputs into it. A failing cell raises nbclient's CellExecutionError naming the cell."""
    notebook = nbformat.read(path, as_version=4)
    specs = _ThisPythonKernelSpecs(env={"DATABASE_URL": database_url})
    # IPC sockets in a private directory rather than TCP ports: nothing listens on the network.
    with tempfile.TemporaryDirectory(prefix="pricing-kernel-") as sockets:
        manager = AsyncKernelManager(
            kernel_name=KERNEL_NAME, kernel_spec_manager=specs, transport="ipc", ip=str(Path(sockets) / "k")
        )
        client = NotebookClient(
            notebook, km=manager, timeout=timeout_s, kernel_name=KERNEL_NAME,
            resources={"metadata": {"path": str(path.parent)}},
        )  # fmt: skip
        # It is our kernel manager, so nbclient would leave the kernel running unless told to stop it.
        client.execute(cleanup_kc=True)
    nbformat.write(notebook, path)
    return notebook


def plotly_figures(notebook: nbformat.NotebookNode) -> int:
    """How many Plotly figures the executed notebook's outputs hold."""
    return sum(
        1
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if PLOTLY_MIME in output.get("data", {})
    )
