"""The layout's two promises: no import circle among Restora's modules, and modules you can read.

The graph: every module of ``app.py``, ``assistant/``, ``parsers/``, ``models/``, ``benchmarks/``
and ``scripts/`` (tests are not part of it), with an edge A → B for each ``import`` / ``from …
import`` in A that names B or something in B. Imports inside functions count as much as imports at
module level: a function-local import is how this code base defers heavy or optional work, not a
licence to depend both ways, and a circle through one still means neither module can be read or
moved without the other. Imports under ``if TYPE_CHECKING:`` do not count: they never run and only
name a type for an annotation. ``from pkg import name`` points at the submodule ``pkg.name`` when
there is one, else at ``pkg`` itself (its ``__init__``).

Length: a module over ``MAX_LINES`` lines must say why in its docstring, in a line containing
``Long because:``.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("app.py", "assistant", "parsers", "models", "benchmarks", "scripts")
#: Folders of scripts that put their own folder on sys.path: ``from scoring import psnr`` in
#: ``benchmarks/`` is ``benchmarks.scoring``.
SCRIPT_FOLDERS = ("benchmarks", "scripts")
MAX_LINES = 450
LONG_MARKER = "Long because:"

#: Circles known and left for their owners, each with why; an entry that is no longer a circle
#: fails ``test_known_circles_are_still_circles`` so the list only shrinks.
KNOWN_CIRCLES: dict[frozenset[str], str] = {}

#: Long modules waiting for their split or their reason (issue #23); an entry that is now short
#: or explains itself fails ``test_long_modules_say_why``, so the list only shrinks.
LONG_PENDING: frozenset[str] = frozenset()


def _modules() -> dict[str, Path]:
    mods: dict[str, Path] = {}
    for name in SOURCES:
        path = ROOT / name
        for file in [path] if path.is_file() else sorted(path.rglob("*.py")):
            parts = list(file.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            mods[".".join(parts)] = file
    return mods


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imported_names(tree: ast.AST, module: str, is_package: bool) -> list[tuple[str, str]]:
    """(name, fallback) per imported name: the absolute dotted name, and where it lives if that
    is not a module (``from pkg import f`` → (``pkg.f``, ``pkg``))."""
    names: list[tuple[str, str]] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            names.extend((alias.name, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module.split(".") if is_package else module.split(".")[:-1]
                package = package[: len(package) - (node.level - 1)]
                base = ".".join(package + ([base] if base else []))
            names.extend((f"{base}.{alias.name}", base) for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return names


def import_graph() -> dict[str, set[str]]:
    """module → the project modules it imports (see the module docstring for what counts)."""
    mods = _modules()

    def resolve(name: str) -> str | None:
        while name:
            if name in mods:
                return name
            name = name.rpartition(".")[0]
        return None

    def target(module: str, name: str, fallback: str) -> str | None:
        if module.split(".")[0] in SCRIPT_FOLDERS:  # a script's folder is on sys.path: siblings first
            sibling = f"{module.split('.')[0]}.{name}"
            if sibling in mods or f"{module.split('.')[0]}.{fallback}" in mods:
                return sibling if sibling in mods else f"{module.split('.')[0]}.{fallback}"
        return name if name in mods else resolve(fallback)

    graph: dict[str, set[str]] = {}
    for module, file in mods.items():
        tree = ast.parse(file.read_text(encoding="utf-8"), filename=str(file))
        names = _imported_names(tree, module, file.name == "__init__.py")
        targets = {target(module, name, fallback) for name, fallback in names}
        graph[module] = {t for t in targets if t is not None and t != module}
    return graph


def circles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(frozenset(component))
    return found


def _describe(component: frozenset[str], graph: dict[str, set[str]]) -> str:
    return "; ".join(f"{m} -> {sorted(graph[m] & component)}" for m in sorted(component))


def test_the_graph_sees_function_level_imports():
    graph = import_graph()
    assert "models.restorers.diffusion" in graph["models.readiness"]  # imported inside a function
    assert "models.catalog" in graph["models.weights"]  # imported at module level
    assert "benchmarks.scoring" in graph["benchmarks.real_photos"]  # a script's sibling


def test_the_circle_finder_finds_a_circle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert circles(graph) == [frozenset({"a", "b", "c"})]


def test_no_import_circles():
    graph = import_graph()
    new = [c for c in circles(graph) if c not in KNOWN_CIRCLES]
    assert not new, "import circles:\n" + "\n".join(_describe(c, graph) for c in new)


def test_known_circles_are_still_circles():
    found = set(circles(import_graph()))
    stale = [sorted(c) for c in KNOWN_CIRCLES if c not in found]
    assert not stale, f"no longer circles, remove from KNOWN_CIRCLES: {stale}"


def test_long_modules_say_why():
    unexplained, settled = [], []
    for file in _modules().values():
        text = file.read_text(encoding="utf-8")
        lines = text.count("\n") + (not text.endswith("\n"))
        name = file.relative_to(ROOT).as_posix()
        long_unexplained = lines > MAX_LINES and LONG_MARKER not in (ast.get_docstring(ast.parse(text)) or "")
        if long_unexplained and name not in LONG_PENDING:
            unexplained.append(f"{name} ({lines} lines)")
        elif not long_unexplained and name in LONG_PENDING:
            settled.append(name)
    assert not unexplained, (
        f"over {MAX_LINES} lines with no {LONG_MARKER!r} line in the docstring: {unexplained}"
    )
    assert not settled, f"short now or explained, remove from LONG_PENDING: {settled}"
