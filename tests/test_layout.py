"""The package's layout keeps its promises: a library apart from its experiment, regular packages,
a version with no import cycle, no object rewritten in place. Read from the source as it ships."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import playerruns

PACKAGE = Path(playerruns.__file__).resolve().parent
EXPERIMENT = "playerruns.builtin"


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _imports(tree: ast.Module, *, top_level_only: bool) -> set[str]:
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    names: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return {n for n in names if n == "playerruns" or n.startswith("playerruns.")}


def test_at_most_four_modules_at_the_top_and_every_part_a_regular_package_with_all():
    top = sorted(p.stem for p in PACKAGE.glob("*.py"))
    assert top == ["__init__", "__main__", "cli", "version"]
    for folder in sorted(p for p in PACKAGE.iterdir() if p.is_dir() and any(p.glob("*.py"))):
        init = folder / "__init__.py"
        assert init.is_file(), f"{folder.name} is not a regular package"
        tree = ast.parse(init.read_text(encoding="utf-8"))
        assert ast.get_docstring(tree), f"{folder.name}/__init__.py has no docstring"
        assigned = {t.id for node in tree.body if isinstance(node, ast.Assign) for t in node.targets
                    if isinstance(t, ast.Name)}
        assert "__all__" in assigned, f"{folder.name}/__init__.py has no __all__"


def test_the_library_never_imports_the_experiment():
    offenders = []
    for name, path in _modules().items():
        if name == EXPERIMENT or name.startswith(EXPERIMENT + ".") or name == "playerruns.cli":
            continue  # the experiment itself, and the CLI's --demo command that starts it
        tree = ast.parse(path.read_text(encoding="utf-8"))
        offenders += [f"{name} imports {i}" for i in _imports(tree, top_level_only=False)
                      if i == EXPERIMENT or i.startswith(EXPERIMENT + ".")]
        source = path.read_text(encoding="utf-8")
        if "playerruns.builtin" in source.replace("playerruns.builtin.envs:Paced", ""):  # ids a user may configure
            offenders.append(f"{name} names the experiment in its source")
    assert offenders == []


def test_no_import_cycle_between_modules_and_no_import_needs_noqa():
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        source = path.read_text(encoding="utf-8")
        assert "noqa: E402" not in source, name
        targets = set()
        for imported in _imports(ast.parse(source), top_level_only=True):
            while imported not in modules and "." in imported:  # `from package import name` names a symbol
                imported = imported.rsplit(".", 1)[0]
            if imported != name:
                targets.add(imported)
        graph[name] = targets

    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                raise AssertionError("import cycle: " + " -> ".join([*trail[trail.index(nxt):], nxt]))
            if nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])


def test_no_object_is_rewritten_in_place():
    found = []
    for name, path in _modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets = node.targets if isinstance(node, ast.Assign) else []
            for target in targets:
                if isinstance(target, ast.Attribute) and target.attr in ("__class__", "__len__"):
                    found.append(f"{name}:{node.lineno} assigns {target.attr}")
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr" \
                    and len(node.args) == 3 and isinstance(node.args[0], ast.Name) and node.args[0].id == "self":
                found.append(f"{name}:{node.lineno} reads an undeclared attribute of self")
    assert found == []


def test_importing_the_package_reads_no_tmrl_data_and_the_version_has_its_module(tmp_path):
    code = ("import sys, playerruns; from playerruns.version import __version__; "
            "assert playerruns.__version__ == __version__; print('tmrl' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
    assert not (tmp_path / "TmrlData").exists()
