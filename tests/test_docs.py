"""The docs against the package, without building them (`make docs` does, in strict mode): every
public name - ``weightinit.__all__`` and the ``__all__`` of each documented module - has an entry
in the API pages (docs/api/*.md), rendered by a ``::: module`` directive, a directive of its own,
or listed with a cross-reference; and every relative link of README.md and docs/*.md points to a
file that exists.

Device: none (reads files).
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import re
from pathlib import Path

import pytest

import weightinit

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
API = DOCS / "api"
UNDOCUMENTED = ("weightinit.cli",)  # the command line: documented by --help and the user guide

DIRECTIVE = re.compile(r"^::: *([\w.]+) *$")
AUTOREF = re.compile(r"\]\[([\w.]+)\]")
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
LINK_DEFINITION = re.compile(r"^\s{0,3}\[[^\]]+\]:\s+<?(\S+?)>?(?:\s+\"[^\"]*\")?\s*$", re.M)


def _resolve(path: str):
    """The object a dotted path names (a module, or an attribute of the longest importable module)."""
    parts = path.split(".")
    for n in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:n]))
        except ImportError:
            continue
        for name in parts[n:]:
            obj = getattr(obj, name)
        return obj
    raise ImportError(path)


def _strip_code(text: str) -> str:
    """Markdown without fenced code blocks, inline code and HTML comments."""
    text = re.sub(r"<!--.*?-->", "", text, flags=re.S)
    text = re.sub(r"^(```|~~~).*?^\1[^\n]*$", "", text, flags=re.S | re.M)
    return re.sub(r"(`+)(?:(?!\1).)+?\1", "", text, flags=re.S)


def _directives(text: str) -> list[tuple[str, list[str] | None]]:
    """Each ``::: path`` of a page with the ``members`` it is restricted to (None: all)."""
    found = []
    lines = text.split("\n")
    for i, line in enumerate(lines):
        match = DIRECTIVE.match(line)
        if not match:
            continue
        options = []
        for option in lines[i + 1:]:
            if option.strip() and not option.startswith(" "):
                break
            options.append(option)
        members: list[str] | None = None
        for j, option in enumerate(options):
            value = re.match(r"^\s+members:\s*(.*)$", option)
            if not value:
                continue
            value = value.group(1).strip()
            if value in ("false", "no", "[]"):
                members = []
            elif value.startswith("["):
                members = [m.strip().strip("'\"") for m in value.strip("[]").split(",") if m.strip()]
            elif not value:
                members = []
                for item in options[j + 1:]:
                    entry = re.match(r"^\s+-\s+(\S+)", item)
                    if not entry:
                        break
                    members.append(entry.group(1).strip("'\""))
        found.append((match.group(1), members))
    return found


def _api_text() -> dict[Path, str]:
    return {page: re.sub(r"<!--.*?-->", "", page.read_text(), flags=re.S) for page in sorted(API.glob("*.md"))}


def documented_modules() -> list[str]:
    """weightinit, each public module right under it, and each public module below whose package does
    not gather the names itself (runs, experiments, reporting: "import the module you need") - those
    that declare ``__all__``."""
    names = ["weightinit"]
    for info in pkgutil.walk_packages(weightinit.__path__, "weightinit."):
        name = info.name
        if any(part.startswith("_") for part in name.split(".")) or name.startswith(UNDOCUMENTED):
            continue
        module = importlib.import_module(name)
        parent = importlib.import_module(name.rsplit(".", 1)[0])
        if hasattr(module, "__all__") and (parent is weightinit or not hasattr(parent, "__all__")):
            names.append(name)
    return names


def _rendered():
    """(objects with a directive or a cross-reference of their own, [(module, members or None)])."""
    own: list[object] = []
    modules: list[tuple[object, list[str] | None]] = []
    for text in _api_text().values():
        for path, members in _directives(text):
            obj = _resolve(path)
            if isinstance(obj, type(weightinit)):
                modules.append((obj, members))
            own.append(obj)
        own.extend(_resolve(ref) for ref in AUTOREF.findall(_strip_code(text)))
    return own, modules


def test_directives_and_references_resolve():
    for page, text in _api_text().items():
        for path, _ in _directives(text):
            try:
                _resolve(path)
            except (ImportError, AttributeError) as error:
                pytest.fail(f"{page.relative_to(ROOT)}: '::: {path}' names nothing importable ({error})")
        for ref in AUTOREF.findall(_strip_code(text)):
            try:
                _resolve(ref)
            except (ImportError, AttributeError) as error:
                pytest.fail(f"{page.relative_to(ROOT)}: [...][{ref}] names nothing importable ({error})")


def test_documented_modules_are_the_expected_ones():
    names = set(documented_modules())
    for name in ("weightinit", "weightinit.init", "weightinit.modelinit", "weightinit.training",
                 "weightinit.diagnostics", "weightinit.models", "weightinit.boltzmann", "weightinit.estimators",
                 "weightinit.data", "weightinit.runs.files", "weightinit.experiments.compare"):
        assert name in names, f"{name} is no longer found by documented_modules()"


@pytest.mark.parametrize("module_name", documented_modules())
def test_every_public_name_has_an_api_entry(module_name):
    module = importlib.import_module(module_name)
    own, modules = _rendered()
    missing = []
    for name in module.__all__:
        obj = getattr(module, name)
        if any(obj is o for o in own):
            continue
        covered = False
        for rendered, members in modules:
            for key in getattr(rendered, "__all__", ()):
                if getattr(rendered, key, None) is not obj or (members is not None and key not in members):
                    continue
                # a name that is also a submodule's (modelinit.lsuv) is rendered as the submodule by
                # mkdocstrings: such a name needs a directive of its own
                if hasattr(rendered, "__path__") and importlib.util.find_spec(f"{rendered.__name__}.{key}"):
                    continue
                covered = True
        if not covered:
            missing.append(name)
    assert not missing, (f"{module_name}.__all__ has names without an entry in docs/api/*.md: {missing}; add a "
                         f"'::: {module_name}' directive, a directive of their own, or a [`name`][path] reference")


def _markdown_files() -> list[Path]:
    return [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]


@pytest.mark.parametrize("path", _markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_point_to_files_that_exist(path):
    text = _strip_code(path.read_text())
    targets = LINK.findall(text) + LINK_DEFINITION.findall(text)
    broken = []
    for target in targets:
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I) or target.startswith("#"):
            continue  # a URL (http:, mailto:) or an anchor of the same page
        file = target.split("#", 1)[0].split("?", 1)[0]
        if not (path.parent / file).exists():
            broken.append(target)
    assert not broken, f"{path.relative_to(ROOT)} links to files that do not exist: {broken}"
