"""The layout's rules that import-linter does not check: own-package imports at the top of a module (or with a
comment that says why not), no private name used across modules, `__all__` in every package, modest module sizes.
"""

from __future__ import annotations

import ast
import io
import tokenize
from pathlib import Path

import pytest

import streams

PACKAGE = Path(streams.__file__).parent
MODULES = sorted(p for p in PACKAGE.rglob("*.py"))
# A facade may be larger than a core module (STYLE.md); each exception says why.
LONG_MODULES: dict[str, str] = {}
MAX_LINES = 500


def _rel(p: Path) -> str:
    return str(p.relative_to(PACKAGE.parent))


def _comments(src: str) -> dict[int, str]:
    return {
        tok.start[0]: tok.string
        for tok in tokenize.generate_tokens(io.StringIO(src).readline)
        if tok.type == tokenize.COMMENT
    }


def _own(node: ast.Import | ast.ImportFrom) -> bool:
    if isinstance(node, ast.ImportFrom):
        return node.level > 0 or (node.module or "").split(".")[0] == "streams"
    return any(a.name.split(".")[0] == "streams" for a in node.names)


def _nested_imports(tree: ast.AST):
    """Imports inside a function body (at any depth), not those guarded by ``if TYPE_CHECKING``."""
    for fn in ast.walk(tree):
        if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
            for node in ast.walk(fn):
                if isinstance(node, ast.Import | ast.ImportFrom):
                    yield node


def test_own_imports_inside_functions_say_why() -> None:
    """An own-package import inside a function hides a cycle or a layer problem unless a comment says why."""
    bad = []
    for path in MODULES:
        src = path.read_text()
        comments = _comments(src)
        seen = set()
        for node in _nested_imports(ast.parse(src)):
            if id(node) in seen or not _own(node):
                continue
            seen.add(id(node))
            lines = range(node.lineno - 1, (node.end_lineno or node.lineno) + 1)
            if not any(i in comments for i in lines):
                bad.append(f"{_rel(path)}:{node.lineno}")
    assert not bad, "own-package imports inside functions without a comment saying why:\n" + "\n".join(bad)


def _module_of(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_no_private_names_across_modules() -> None:
    """What another module uses is public: no ``from streams.x import _y``, no ``x._y`` on an imported module."""
    bad = []
    for path in MODULES:
        tree = ast.parse(path.read_text())
        aliases: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and _own(node):
                for a in node.names:
                    if a.name.startswith("_") and not a.name.startswith("__"):
                        bad.append(f"{_rel(path)}:{node.lineno} imports {node.module}.{a.name}")
                    aliases.add(a.asname or a.name)
            elif isinstance(node, ast.Import) and _own(node):
                aliases |= {(a.asname or a.name).split(".")[0] for a in node.names}
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in aliases
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
            ):
                bad.append(f"{_rel(path)}:{node.lineno} uses {node.value.id}.{node.attr}")
    assert not bad, "private names used across modules:\n" + "\n".join(bad)


@pytest.mark.parametrize("init", sorted(PACKAGE.rglob("__init__.py")), ids=lambda p: _rel(p))
def test_every_package_declares_its_public_names(init: Path) -> None:
    tree = ast.parse(init.read_text())
    names = [t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)]
    assert "__all__" in names, f"{_rel(init)} has no __all__"


def test_modules_are_small_enough_to_read_in_one_sitting() -> None:
    long = {
        _rel(p): n
        for p in MODULES
        if (n := len(p.read_text().splitlines())) > MAX_LINES and _rel(p) not in LONG_MODULES
    }
    assert not long, f"modules over {MAX_LINES} lines (split them, or say why in LONG_MODULES): {long}"
