"""The module layers hold (contracts in pyproject.toml, drawn in docs/architecture.md): a module imports only
from layers below its own, the base layer from nothing of the project, the ingest workers from the base
layer alone. import-linter reads every import in the tree, lazy ones inside functions included."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_import_layers_are_kept() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 2 kept, 0 broken." in result.stdout, result.stdout


def test_every_module_of_the_project_has_a_layer() -> None:
    # A package missing from the contract would be outside every rule.
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    contract = next(c for c in contracts if c["type"] == "layers")
    listed = {name.strip() for layer in contract["layers"] for name in re.split(r"[|:]", layer)}
    package = ROOT / "pricing_platform"
    present = {f"pricing_platform.{p.stem}" for p in package.glob("*.py") if p.stem != "__init__"}
    present |= {f"pricing_platform.{p.parent.name}" for p in package.glob("*/__init__.py")}
    assert present | {"ingest_workers"} == listed


def test_a_broken_layer_is_reported(tmp_path: Path) -> None:
    # The contracts can fail: a core module importing upward is caught.
    package = tmp_path / "pricing_platform"
    (package / "core").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "core" / "__init__.py").write_text("")
    (package / "core" / "catalog.py").write_text("from pricing_platform import pricing\n")
    (package / "pricing.py").write_text("")
    config = tmp_path / "contracts.toml"
    config.write_text(
        '[tool.importlinter]\nroot_package = "pricing_platform"\n'
        '[[tool.importlinter.contracts]]\nname = "core"\ntype = "forbidden"\n'
        'source_modules = ["pricing_platform.core"]\nforbidden_modules = ["pricing_platform.pricing"]\n'
    )
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint), "--config", str(config), "--no-cache"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "pricing_platform.core.catalog -> pricing_platform.pricing" in result.stdout
