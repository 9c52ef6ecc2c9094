"""The package's architecture (docs/architecture.md), checked on the source: which room each
module lives in (its folder), which rooms it may import (the layers of import-linter's contract in
pyproject.toml, which `make lint` also checks), no import cycles, no private names across modules.

Device: none (reads source files).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import weightinit

PACKAGE = Path(weightinit.__file__).parent
PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def _layers() -> list[set[str]]:
    """The rooms, highest first, from pyproject's import-linter contract (the one list of them):
    each line a set of rooms that do not import each other."""
    tomllib = pytest.importorskip("tomllib")
    (contract,) = tomllib.loads(PYPROJECT.read_text())["tool"]["importlinter"]["contracts"]
    assert contract["containers"] == ["weightinit"]
    return [{room.strip() for room in line.split("|")} for line in contract["layers"]]


LAYERS = _layers()
LEVEL = {room: level for level, rooms in enumerate(LAYERS) for room in rooms}
# The package's front door and the `python -m weightinit` entry point sit above every room.
ENTRY = {"__init__", "__main__"}


def _modules() -> dict[str, Path]:
    """Dotted names inside the package ("runs.files", "cli", "__init__") -> source file."""
    names = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
        if parts[-1] == "__init__" and len(parts) > 1:
            parts = parts[:-1]  # a subpackage is named by its folder
        names[".".join(parts)] = path
    return names


MODULES = _modules()


def _room(name: str) -> str:
    """A module's room: the folder it lives in, or the top-level module itself."""
    return name.split(".")[0]


def _package_of(name: str, path: Path) -> list[str]:
    """The dotted package a relative import in module ``name`` starts from."""
    parts = [] if name == "__init__" else name.split(".")
    return parts if path.name == "__init__.py" else parts[:-1]


def _imports(name: str, path: Path) -> list[tuple[str, list[str], int]]:
    """(imported module, names taken from it, line) for every import of a package module, at
    any depth of the file (imports inside functions count)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = _package_of(name, path)[: len(_package_of(name, path)) - (node.level - 1)]
            target = ".".join(base + (node.module.split(".") if node.module else []))
            for alias in node.names:
                submodule = f"{target}.{alias.name}" if target else alias.name
                if submodule in MODULES:
                    found.append((submodule, [], node.lineno))
                else:
                    found.append((target or "__init__", [alias.name], node.lineno))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            module = node.module if isinstance(node, ast.ImportFrom) else node.names[0].name
            assert not (module or "").startswith("weightinit"), \
                f"{path}:{node.lineno} imports its own package by absolute name; use a relative import"
    return found


IMPORTS = {name: _imports(name, path) for name, path in MODULES.items()}


def _may_import(room: str, target: str) -> bool:
    """A room imports itself and the rooms on lower lines; the entry points import anything."""
    return room == target or room in ENTRY or LEVEL[room] < LEVEL[target]


def _wrong_imports(name: str, imports: list[tuple[str, list[str], int]]) -> list[str]:
    room = _room(name)
    return [f"line {line}: {target} ({_room(target)})" for target, _, line in imports
            if not _may_import(room, _room(target))]


def test_every_folder_and_top_level_module_is_a_room():
    rooms = {_room(name) for name in MODULES} - ENTRY
    assert sorted(rooms - set(LEVEL)) == [], "add it to [tool.importlinter] in pyproject.toml"
    assert sorted(set(LEVEL) - rooms) == [], "a room in pyproject.toml that the package does not have"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_a_module_imports_only_the_rooms_below_its_own(name):
    assert _wrong_imports(name, IMPORTS[name]) == [], f"{name} ({_room(name)}) imports a room above it"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_module_takes_a_private_name_of_another(name):
    private = [f"line {line}: {target}.{taken}" for target, names, line in IMPORTS[name] for taken in names
               if taken.startswith("_") and not taken.startswith("__") and target != name]
    assert private == []


def test_the_module_graph_has_no_cycles():
    graph = {name: {target for target, _, _ in IMPORTS[name] if target != name} for name in MODULES}
    # a subpackage's __init__ re-exports its modules: an edge into the package is not a cycle back out of it
    state: dict[str, int] = {}  # 1 on the path, 2 done
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if nxt.startswith(node + ".") or node.startswith(nxt + "."):
                continue  # a package and its own modules
            if state.get(nxt) == 1:
                cycles.append(path[path.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert cycles == []


def test_the_rules_are_not_vacuous():
    """The parser sees the imports the rules are about, and the rule refuses a lower room importing
    a higher one (modelinit -> training) and rooms on one line importing each other (runs -> modelinit)."""
    assert any(t == "runs.devices" for t, _, _ in IMPORTS["boltzmann.trainer"])
    assert any(_room(t) == "training" for t, _, _ in IMPORTS["experiments.compare"])
    assert sum(len(found) for found in IMPORTS.values()) > 150
    assert _wrong_imports("modelinit.plan", [("training.loop", [], 1)]) == ["line 1: training.loop (training)"]
    assert _wrong_imports("runs.files", [("modelinit.plan", [], 7)]) == ["line 7: modelinit.plan (modelinit)"]
    assert _wrong_imports("training.loop", [("modelinit.plan", [], 1), ("training.history", [], 2)]) == []
    assert _wrong_imports("__init__", [("cli.main", [], 1)]) == []
