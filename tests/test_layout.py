"""The layout's rules, read from the source with ``ast`` (README: "How the code is laid out").

Every import inside rnnguide goes to a lower level or stays within its package; no
import cycle; the longest chain of imports is at most 10 modules; an underscore name
never leaves its module; no module only re-exports another; a subpackage's
``__init__`` is a docstring that maps it; and what ``import rnnguide`` loads never
imports numpy (or a framework) at module level.
"""

from __future__ import annotations

import ast
import functools
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "rnnguide"

#: a folder (or top-level module) and its level: imports go to a lower level only
LEVELS = {
    "errors": 0,
    "version": 0,
    "tables": 0,
    "data": 1,
    "many": 1,
    "spec": 2,
    "keras_bridge": 3,
    "equations": 3,
    "arithmetic": 4,
    "reference": 4,
    "pytorch": 4,
    "verification": 5,
    "exported": 6,
    "drawing": 6,
    "cli": 7,
    "__init__": 8,
    "__main__": 8,
}
MAX_CHAIN = 10
HEAVY = {"numpy", "keras", "tensorflow", "torch", "jax", "onnx", "onnxruntime"}


def _name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" and len(parts) > 1 else parts)


MODULES = {_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _group(module: str) -> str:
    """The folder a module belongs to, or the top-level module itself."""
    return module.split(".")[0]


class _Imports(ast.NodeVisitor):
    """Every import of an rnnguide module: (target module, names, at module level,
    under ``if TYPE_CHECKING``), and every other package imported at module level."""

    def __init__(self, module: str, is_package: bool):
        parts = module.split(".") if module != "__init__" else []
        self.package = parts if is_package else parts[:-1]
        self.found: list[tuple[str, list[str], bool, bool]] = []
        self.external_top: set[str] = set()
        self.depth = 0
        self.typing = 0

    def _add(self, target, names):
        self.found.append((target, names, self.depth == 0, self.typing > 0))

    def visit_If(self, node):
        typing = ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING")
        self.typing += typing
        for child in node.body:
            self.visit(child)
        self.typing -= typing
        for child in node.orelse:
            self.visit(child)

    def _scope(self, node):
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = visit_Lambda = _scope

    def visit_Import(self, node):
        for alias in node.names:
            if alias.name.split(".")[0] == "rnnguide":
                self._add(alias.name.removeprefix("rnnguide").lstrip(".") or "__init__", [])
            elif self.depth == 0 and not self.typing:
                self.external_top.add(alias.name.split(".")[0])

    def visit_ImportFrom(self, node):
        if node.level:
            base = self.package[: len(self.package) - node.level + 1]
            target = ".".join(base + ([node.module] if node.module else []))
        elif (node.module or "").split(".")[0] == "rnnguide":
            target = node.module.removeprefix("rnnguide").lstrip(".")
        else:
            if self.depth == 0 and not self.typing:
                self.external_top.add(node.module.split(".")[0])
            return
        names = [a.name for a in node.names]
        modules = [n for n in names if f"{target}.{n}".lstrip(".") in MODULES]
        for n in modules:  # `from . import read`: an import of that module
            self._add(f"{target}.{n}".lstrip("."), [])
        rest = [n for n in names if n not in modules]
        if rest or not modules:
            self._add(target or "__init__", rest)


@functools.cache
def _imports(module: str) -> _Imports:
    path = MODULES[module]
    visitor = _Imports(module, path.name == "__init__.py")
    visitor.visit(ast.parse(path.read_text()))
    return visitor


def _edges(*, runtime_only=False, top_only=False):
    out = {m: set() for m in MODULES}
    for m in MODULES:
        for target, _names, top, typing in _imports(m).found:
            if target == m or (runtime_only and typing) or (top_only and (not top or typing)):
                continue
            out[m].add(target)
    return out


def test_every_module_has_a_level_and_every_import_goes_down():
    assert {_group(m) for m in MODULES} <= set(LEVELS), "a new folder needs a level here"
    wrong = []
    for m in MODULES:
        for target, _names, _top, _typing in _imports(m).found:
            assert target in MODULES, f"{m} imports {target}, which is not a module"
            same = _group(m) == _group(target) and "." in m  # within a folder
            if not same and LEVELS[_group(target)] >= LEVELS[_group(m)]:
                wrong.append(f"{m} -> {target}")
    assert not wrong, "imports that go up or sideways: " + ", ".join(wrong)


def test_no_import_cycle():
    edges = _edges()  # TYPE_CHECKING imports included: a cycle there is one in the design
    state = {}

    def visit(m, path):
        state[m] = "open"
        for t in sorted(edges[m]):
            if state.get(t) == "open":
                pytest.fail("import cycle: " + " -> ".join([*path[path.index(t) :], t]))
            if t not in state:
                visit(t, [*path, t])
        state[m] = "done"

    for m in MODULES:
        if m not in state:
            visit(m, [m])


def _longest_chain():
    edges = _edges(runtime_only=True)
    best: dict = {}  # module -> the longest chain from it; an edge back into a cycle is skipped

    def visit(m):
        best[m] = None
        for t in edges[m]:
            if t not in best:
                visit(t)
        best[m] = max(([m, *best[t]] for t in edges[m] if best[t]), key=len, default=[m])

    for m in MODULES:
        if m not in best:
            visit(m)
    return max(best.values(), key=len)


def test_the_longest_import_chain_is_at_most_10_modules():
    longest = _longest_chain()
    assert len(longest) <= MAX_CHAIN, " -> ".join(longest)


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _private_crossings():
    """(importer, module, name) for every underscore name one module takes from another."""
    out = set()
    for m in MODULES:
        for target, names, _top, _typing in _imports(m).found:
            out |= {(m, target, n) for n in names if _private(n) and target != m}
        module_aliases = {}
        tree = ast.parse(MODULES[m].read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level:
                package = m.rsplit(".", 1)[0] if node.level == 1 else ""
                for a in node.names:
                    full = ".".join(filter(None, [package, node.module, a.name]))
                    if full in MODULES:
                        module_aliases[a.asname or a.name] = full
        for node in ast.walk(tree):  # keras_read._private: the same thing, spelled differently
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in module_aliases
                and _private(node.attr)
            ):
                out.add((m, module_aliases[node.value.id], node.attr))
    return out


def test_underscore_names_never_leave_their_module():
    """An underscore name is its module's own: another module (the same package
    included) imports only names without one."""
    assert _private_crossings() == set()


def _defined(tree) -> set:
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    return names


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_only_re_exports(module):
    tree = ast.parse(MODULES[module].read_text())
    stars = [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.names[0].name == "*"]
    assert not stars, f"{module}: `from ... import *`"
    if module == "__init__":  # the public API: names from everywhere, lazily
        return
    if MODULES[module].name == "__init__.py":
        body = tree.body
        assert len(body) == 1 and isinstance(getattr(body[0], "value", None), ast.Constant), (
            f"{module}/__init__.py: expected only a docstring that maps the folder"
        )
        doc = ast.get_docstring(tree)
        children = sorted(
            c.split(".")[-1] for c in MODULES if c.startswith(module + ".") and c.count(".") == 1
        )
        missing = [c for c in children if f"``{c}``" not in doc]
        assert not missing, f"{module}/__init__.py's docstring does not name {missing}"
        return
    own = [
        n
        for n in tree.body[bool(ast.get_docstring(tree)) :]
        if not isinstance(n, (ast.Import, ast.ImportFrom))
        and not (isinstance(n, ast.Assign) and ast.unparse(n.targets[0]) == "__all__")
    ]
    assert own, f"{module} only imports: a re-export, not a module"
    exported = next(
        (
            n.value
            for n in tree.body
            if isinstance(n, ast.Assign) and ast.unparse(n.targets[0]) == "__all__"
        ),
        None,
    )
    if exported is not None:
        listed = [ast.literal_eval(e) for e in exported.elts]
        foreign = sorted(set(listed) - _defined(tree))
        assert not foreign, f"{module}.__all__ lists names it imports: {foreign}"


def test_what_import_rnnguide_loads_imports_no_numpy_at_module_level():
    edges = _edges(top_only=True)
    light, todo = set(), ["__init__"]
    while todo:
        m = todo.pop()
        if m not in light:
            light.add(m)
            todo += sorted(edges[m])
    heavy = {m: sorted(_imports(m).external_top & HEAVY) for m in sorted(light)}
    assert not {m: h for m, h in heavy.items() if h}
    code = (
        "import sys, rnnguide; rnnguide.count_params('LSTM', units=3, input_dim=2); "
        f"print(sorted(m for m in {sorted(HEAVY)!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
