"""A griffe extension for `make docs`: the package's docstrings are written for Sphinx (reST roles,
``.. math::``, simple tables, ``::`` literal blocks) and mkdocstrings renders Markdown, so before
rendering each docstring is translated:

- ``:func:`x```, ``:class:`~a.b.C```, ``:mod:`.rbm``` ... -> ``<code>`` text wrapped in an *optional*
  autorefs cross-reference: a link where the object is rendered in the API pages, plain code where it
  is not (a private helper, a name that moved): never a warning, so `mkdocs build --strict` holds;
- a docstring's first paragraph -> one line (the summary tables show a docstring's first line);
- ``:math:`...``` and ``.. math::`` blocks -> MathML (latex2mathml), which the browser draws
  without JavaScript (falls back to code when the LaTeX is beyond latex2mathml);
- ``>>>`` examples outside an ``Examples:`` section -> a ``pycon`` code block (not a block quote);
- reST simple tables (``===  ===``) -> Markdown tables;
- a paragraph ending in ``::`` followed by an indented block -> the paragraph and a code block;
- ``a, b: text`` in an ``Args:`` section -> an entry for ``a`` and one for ``b`` (griffe reads one
  name per entry);
- a dataclass's ``__post_init__`` is left out.

A docstring with numpydoc sections (``Parameters`` over a line of dashes: the estimators', as
scikit-learn writes them) is parsed as numpydoc, every other one as Google style (``Args:``).

Nothing in src/ is changed; only what the docs site shows.
"""

from __future__ import annotations

import html
import re
import textwrap

import griffe

try:
    from latex2mathml.converter import convert as _latex_to_mathml
except ImportError:  # pragma: no cover - the docs extra installs it
    _latex_to_mathml = None

_ROLE = re.compile(r":(?:py:)?(func|class|mod|meth|attr|data|exc|obj|const):`([^`]+)`")
_MATH_ROLE = re.compile(r":math:`([^`]+)`")
_BORDER = re.compile(r"^(\s*)(=+)((?:\s+=+)+)\s*$")
_NUMPY_SECTION = re.compile(r"\n[ \t]*(Parameters|Returns|Yields|Raises|Attributes|Examples|See Also|Notes|References)"
                            r"\n[ \t]*-{3,}\n")


def _mathml(latex: str, display: bool) -> str:
    latex = " ".join(latex.split())
    if _latex_to_mathml is None:
        return f"<code>{html.escape(latex)}</code>"
    # \text{fan\_in}: latex2mathml keeps the backslash inside \text
    fixed = re.sub(r"\\text\{([^}]*)\}", lambda m: r"\text{" + m.group(1).replace(r"\_", "_") + "}", latex)
    for macro in (r"\big", r"\Big", r"\bigg", r"\Bigg", r"\textstyle"):
        fixed = re.sub(re.escape(macro) + r"(?![a-zA-Z])", "", fixed)
    try:
        out = _latex_to_mathml(fixed, display="block" if display else "inline")
    except Exception:  # noqa: BLE001 - anything latex2mathml cannot parse is shown as its source
        return f"<code>{html.escape(latex)}</code>"
    out = out.replace("<mi>&#x0007E;</mi>", "<mo>&#x0223C;</mo>")  # \sim
    # Markdown must leave the MathML alone: no emphasis from _ or *, no escapes from \
    out = out.replace("\\", "&#92;").replace("_", "&#95;").replace("*", "&#42;").replace("`", "&#96;")
    # inline math in a span: a line that starts with <math> would be taken for a block of raw HTML
    return out if display else f'<span class="inline-math">{out}</span>'


def _table_rows(block: list[str], starts: list[int]) -> list[list[str]]:
    """The rows of a reST simple table; a line with an empty first cell, or with text in the first
    cell alone, continues the row above (the docstrings wrap both ways)."""
    rows: list[list[str]] = []
    for line in block:
        if not line.strip():
            continue
        row = [line[a:b].strip() for a, b in zip(starts, [*starts[1:], len(line)])]
        if rows and (not row[0] or not any(row[1:])):
            rows[-1] = [f"{old} {new}".strip() for old, new in zip(rows[-1], row)]
        else:
            rows.append(row)
    return rows


def _table_line(row: list[str], indent: str) -> str:
    return indent + "| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |"


class RstDocstrings(griffe.Extension):
    """Translate the reST in every docstring of the package to Markdown (see the module docstring)."""

    def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader, **kwargs) -> None:
        self._walk(pkg, set())

    def _walk(self, obj: griffe.Object, seen: set[str]) -> None:
        if obj.path in seen:
            return
        seen.add(obj.path)
        if obj.docstring is not None:
            numpy = bool(_NUMPY_SECTION.search("\n" + obj.docstring.value))
            if numpy:  # the estimators' docstrings follow scikit-learn's (numpydoc); the rest are Google style
                obj.docstring.parser = griffe.Parser.numpy
                obj.docstring.parser_options = {}  # the Google options of mkdocs.yml are not numpydoc's
            obj.docstring.value = self.translate(obj.docstring.value, obj, numpy=numpy)
        if obj.is_class:  # a dataclass's __post_init__ is its own business, not the API
            obj.members.pop("__post_init__", None)
        for member in list(obj.members.values()):
            if not member.is_alias:
                self._walk(member, seen)

    # -- the translation ----------------------------------------------------------------------

    def translate(self, text: str, obj: griffe.Object, numpy: bool = False) -> str:
        text = self._one_line_summary(text)
        text = self._split_grouped_args(text)
        if not numpy:  # numpydoc keeps its doctests at the margin, in an Examples section
            text = self._doctest_blocks(text)
        text = self._literal_blocks(text)
        text = self._math_blocks(text)
        text = self._tables(text)
        text = _MATH_ROLE.sub(lambda m: _mathml(m.group(1), display=False), text)
        return _ROLE.sub(lambda m: self._role(m.group(1), m.group(2), obj), text)

    def _role(self, role: str, target: str, obj: griffe.Object) -> str:
        target = target.strip()
        title = None
        explicit = re.fullmatch(r"(.*?)\s*<([^>]+)>", target)
        if explicit:
            title, target = explicit.group(1), explicit.group(2)
        short = target.startswith("~")
        target = re.sub(r"\s+", "", target.lstrip("~"))  # a role may wrap over two lines
        shown = title or (target.rsplit(".", 1)[-1] if short else target.lstrip("."))
        identifier = self._resolve(target, obj)
        return (f'<autoref identifier="{html.escape(identifier)}" optional>'
                f"<code>{html.escape(shown)}</code></autoref>")

    @staticmethod
    def _resolve(target: str, obj: griffe.Object) -> str:
        if target.startswith("weightinit.") or target == "weightinit":
            return target
        module = obj if obj.is_module else obj.module
        if target.startswith("."):
            base = module if module.is_init_module else module.parent
            rest = target[1:]
            while rest.startswith(".") and base is not None and base.parent is not None:
                base, rest = base.parent, rest[1:]
            return f"{base.path}.{rest}" if base is not None else rest
        head, _, tail = target.partition(".")
        scope = obj if (obj.is_class or obj.is_module) else obj.parent
        while scope is not None:
            if head in scope.members:
                found = scope.members[head]
                found = found.target_path if found.is_alias else found.path
            else:
                try:
                    found = scope.resolve(head)
                except Exception:  # noqa: BLE001 - griffe raises NameResolutionError (and others) when unknown
                    found = None
            if found and "(" not in found:  # "Cls(param)" is a parameter, not an object to link
                return f"{found}.{tail}" if tail else found
            scope = scope.parent
        return target

    @staticmethod
    def _one_line_summary(text: str) -> str:
        """The first paragraph on one line: the API pages' summary tables show a docstring's first
        line, and the docstrings wrap their first sentence over two or three."""
        head, sep, rest = text.partition("\n\n")
        lines = head.split("\n")
        plain = all(ln.strip() and not re.match(r"^\s*([-*+|>]|\d+\.|```|\.\.|=+\s)", ln) for ln in lines)
        if len(lines) > 1 and plain and not re.match(r"^\s*\w[\w ]*:\s*$", lines[0]):
            head = " ".join(ln.strip() for ln in lines)
        return head + sep + rest

    @staticmethod
    def _split_grouped_args(text: str) -> str:
        """``fan_in, fan_out: text`` in an ``Args:`` section (numpydoc's way of grouping) -> one entry each."""
        out: list[str] = []
        in_args = False
        for line in text.split("\n"):
            if re.match(r"^\s*(Args|Arguments|Parameters|Keyword Args|Keyword Arguments):\s*$", line):
                in_args = True
            elif line.strip() and not line.startswith((" ", "\t")):
                in_args = False
            grouped = re.match(r"^(\s+)([A-Za-z_]\w*(?:,\s*[A-Za-z_]\w*)+):(\s.*)$", line) if in_args else None
            if grouped:
                indent, names, rest = grouped.groups()
                out.extend(f"{indent}{name.strip()}:{rest}" for name in names.split(","))
            else:
                out.append(line)
        return "\n".join(out)

    @staticmethod
    def _doctest_blocks(text: str) -> str:
        """``>>>`` lines at the margin (outside an ``Examples:`` section, which griffe reads itself)
        -> a fenced ``pycon`` block, not a Markdown block quote."""
        out: list[str] = []
        lines = text.split("\n")
        i = 0
        while i < len(lines):
            if not lines[i].startswith(">>>"):
                out.append(lines[i])
                i += 1
                continue
            if out and out[-1].strip():
                out.append("")
            out.append("```pycon")
            while i < len(lines) and lines[i].strip():
                out.append(lines[i])
                i += 1
            out.append("```")
        return "\n".join(out)

    @staticmethod
    def _math_blocks(text: str) -> str:
        lines = text.split("\n")
        out: list[str] = []
        i = 0
        while i < len(lines):
            m = re.match(r"^(\s*)\.\. math::\s*(.*)$", lines[i])
            if not m:
                out.append(lines[i])
                i += 1
                continue
            indent, first = m.group(1), m.group(2)
            body = [first] if first else []
            i += 1
            while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > len(indent)):
                body.append(lines[i])
                i += 1
            while body and not body[-1].strip():
                body.pop()
            equations = [eq for eq in "\n".join(body).split("\n\n") if eq.strip()]
            for eq in equations:
                out.append(indent + _mathml(eq, display=True))
                out.append("")
        return "\n".join(out)

    @staticmethod
    def _literal_blocks(text: str) -> str:
        """``text::`` + an indented block -> ``text:`` + a fenced code block."""
        lines = text.split("\n")
        out: list[str] = []
        i = 0
        while i < len(lines):
            line = lines[i]
            stripped = line.rstrip()
            if not stripped.endswith("::") or stripped.lstrip().startswith(".."):
                out.append(line)
                i += 1
                continue
            indent = len(line) - len(line.lstrip())
            j = i + 1
            while j < len(lines) and not lines[j].strip():
                j += 1
            if j >= len(lines) or len(lines[j]) - len(lines[j].lstrip()) <= indent:
                out.append(line)
                i += 1
                continue
            k = j
            block: list[str] = []
            while k < len(lines) and (not lines[k].strip() or len(lines[k]) - len(lines[k].lstrip()) > indent):
                block.append(lines[k])
                k += 1
            while block and not block[-1].strip():
                block.pop()
            head = stripped[:-2].rstrip()
            pad = " " * indent
            out.append(head + ":" if head.strip() else pad.rstrip())
            out.append("")
            out.append(pad + "```")
            out.extend(pad + ln for ln in textwrap.dedent("\n".join(block)).split("\n"))
            out.append(pad + "```")
            out.append("")
            i = k
        return "\n".join(out)

    @staticmethod
    def _tables(text: str) -> str:
        lines = text.split("\n")
        out: list[str] = []
        i = 0
        while i < len(lines):
            m = _BORDER.match(lines[i])
            if not m:
                out.append(lines[i])
                i += 1
                continue
            border = lines[i]
            indent = m.group(1)
            starts = [column.start() for column in re.finditer(r"=+", border)]
            # the table runs to its third border (header, rows) or its second (rows only)
            ends = [k for k in range(i + 1, len(lines)) if lines[k].strip() == border.strip()]
            if not ends:
                out.append(lines[i])
                i += 1
                continue
            if len(ends) >= 2 and all(lines[k].strip() for k in range(i + 1, ends[0])):
                header_lines, body_end = lines[i + 1:ends[0]], ends[1]
                body_lines = lines[ends[0] + 1:body_end]
            else:
                header_lines, body_end = [], ends[0]
                body_lines = lines[i + 1:body_end]

            head = _table_rows(header_lines, starts) or [[""] * len(starts)]
            body = _table_rows(body_lines, starts)
            out.append("")
            out.append(_table_line(head[0], indent))
            out.append(indent + "|" + "|".join("---" for _ in starts) + "|")
            out.extend(_table_line(row, indent) for row in head[1:] + body)
            out.append("")
            i = body_end + 1
        return "\n".join(out)
