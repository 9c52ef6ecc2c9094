"""The package's architecture (docs/architecture.md), checked on the source: which room each
module lives in, which rooms it may import, no import cycles, no private names across modules.

Device: none (reads source files).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import weightinit

PACKAGE = Path(weightinit.__file__).parent

# Each module's room: the longest matching prefix of its dotted name inside the package.
ROOMS = {
    "errors": "foundation", "version": "foundation", "checks": "foundation",
    "init": "core", "activations": "core", "layers": "core", "schemes": "core", "lsuv": "core", "models": "core",
    "diagnostics": "core", "dynamics": "core", "rules": "core", "plan": "core", "residual": "core",
    "activation_trace": "core", "block_diagnostics": "core",
    "runs": "runs",
    "data": "data",
    "train": "training", "history": "training", "weight_average": "training", "batched": "training",
    "boltzmann": "boltzmann",
    "estimators": "estimators",
    "experiments": "experiments",
    "report": "report", "plots": "report", "tensorboard": "report",
    "cli": "cli", "__main__": "cli",
    "__init__": "api", "load": "api",
}

# The rooms each room may import (its own included). Dependencies point one way:
# foundation <- core, runs <- data <- training <- experiments <- report <- cli; boltzmann sits on
# core and runs and never on the supervised training loop.
ALLOWED = {
    "foundation": {"foundation"},
    "core": {"foundation", "core"},
    "runs": {"foundation", "runs"},
    "data": {"foundation", "runs", "data"},
    "training": {"foundation", "core", "runs", "data", "training"},
    "boltzmann": {"foundation", "core", "runs", "boltzmann"},
    "estimators": {"foundation", "core", "runs", "data", "training", "boltzmann", "estimators"},
    "experiments": {"foundation", "core", "runs", "data", "training", "boltzmann", "experiments"},
    "report": {"foundation", "core", "runs", "boltzmann", "experiments", "report"},
    "cli": {"foundation", "core", "runs", "data", "training", "boltzmann", "experiments", "report", "cli"},
    "api": {"foundation", "core", "runs", "data", "boltzmann", "api"},
}


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
    return ROOMS[name] if name in ROOMS else ROOMS[name.split(".")[0]]


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


def test_every_module_has_a_room():
    assert [name for name in MODULES if name not in ROOMS and name.split(".")[0] not in ROOMS] == []


@pytest.mark.parametrize("name", sorted(MODULES))
def test_a_module_imports_only_the_rooms_its_room_may(name):
    room = _room(name)
    wrong = [f"line {line}: {target} ({_room(target)})" for target, _, line in IMPORTS[name]
             if _room(target) not in ALLOWED[room]]
    assert wrong == [], f"{name} ({room}) may import only {sorted(ALLOWED[room])}"


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
    """The parser sees the imports the rules are about: a module that must import another does."""
    assert any(t == "runs.devices" for t, _, _ in IMPORTS["boltzmann.trainer"])
    assert any(t == "train" for t, _, _ in IMPORTS["experiments.compare"])
    assert not any(_room(t) == "training" for t, _, _ in IMPORTS["boltzmann.trainer"])
    assert sum(len(found) for found in IMPORTS.values()) > 150
