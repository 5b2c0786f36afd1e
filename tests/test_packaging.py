"""Every package the library imports is declared in pyproject.toml (a plain ``pip install`` brings it), and the
Python range declared is the one the README names."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "src" / "playerruns"


def _imported_top_levels() -> dict[str, str]:
    """Top-level module -> the first file importing it, over every module of the library."""
    found: dict[str, str] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                found.setdefault(name.split(".")[0], str(path.relative_to(REPO)))
    return found


def _declared() -> set[str]:
    """The dependencies, and those of the extras a feature needs (``wandb``: ``--trainer --wandb``)."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = [spec for name, specs in project["optional-dependencies"].items() if name != "dev" for spec in specs]
    return {re.split(r"[\s<>=!~\[;]", spec, maxsplit=1)[0].lower().replace("_", "-")
            for spec in [*project["dependencies"], *extras]}


def test_every_imported_package_is_declared():
    distributions = packages_distributions()
    declared = _declared()
    missing = []
    for module, where in _imported_top_levels().items():
        if module in sys.stdlib_module_names or module in ("playerruns", "__future__"):
            continue
        owners = {d.lower().replace("_", "-") for d in distributions.get(module, [module])}
        if not owners & declared:
            missing.append(f"{module} (imported in {where}, from {', '.join(sorted(owners))})")
    assert missing == [], "imported but not in pyproject.toml's dependencies: " + "; ".join(missing)


def test_the_python_range_is_bounded_and_the_readme_names_it():
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    lower, upper = re.fullmatch(r">=3\.(\d+),<3\.(\d+)", project["requires-python"]).groups()
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert f"Python 3.{lower} to 3.{int(upper) - 1}" in readme
    assert f"Tested: 3.{sys.version_info.minor}" in readme  # the version this suite runs on
