"""What a reader sees of the checks on the site's pages, counted from their sources.

    python tools/page_stats.py [docs]

For every page (MyST text notebook under docs/): the `assert` lines a reader sees
(code cells not tagged hide-input, remove-input or remove-cell; a folded check
cell is shown on a click only), the most in one visible cell, the cells that show
a full `rg.verify` / `rg.verify_model` report (the cell's last expression is the
report, or it prints one), and whether the page has a "Try it" section whose
worked solution is a folded cell. tests/test_docs_strict.py enforces the limits
(REVIEW / GUIDE section 4): at most 3 visible asserts per cell, at most 80 on
all concept pages together, at most one full report per page, and a "Try it"
with a folded solution on every concept page.
"""

from __future__ import annotations

import ast
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent / "docs"
CODE_CELL = re.compile(r"^```\{code-cell\}[^\n]*\n(.*?)^```", re.M | re.S)
TAGS = re.compile(r"(?::tags:\s*\[([^\]]*)\]\n)?")
FOLDED = {"hide-input", "remove-input", "remove-cell"}
#: the calls whose result is a full report (an HTML table of every returned tensor)
REPORT_CALLS = {"verify", "verify_model", "verify_exported"}

MAX_ASSERTS_PER_CELL = 3
MAX_ASSERTS_ON_CONCEPT_PAGES = 80
MAX_REPORTS_PER_PAGE = 1


@dataclass
class Cell:
    line: int  # line of the page where the cell's code starts
    tags: set[str]
    code: str

    @property
    def folded(self) -> bool:
        return bool(self.tags & FOLDED)

    @property
    def asserts(self) -> int:
        return sum(1 for line in self.code.splitlines() if line.lstrip().startswith("assert"))


@dataclass
class PageStats:
    path: Path
    visible_asserts: int = 0
    folded_asserts: int = 0
    max_asserts_in_a_cell: int = 0
    crowded_cells: list[int] = field(default_factory=list)  # lines of cells over the limit
    report_cells: list[int] = field(default_factory=list)  # lines of cells showing a report
    try_it: bool = False  # a "Try it" section ...
    try_it_solution: bool = False  # ... with a folded code cell in it


def cells(text: str) -> list[Cell]:
    found = []
    for match in CODE_CELL.finditer(text):
        body = match.group(1)
        tags = TAGS.match(body)
        names = {t.strip() for t in (tags.group(1) or "").split(",") if t.strip()}
        # cell options in the `key: value` form MyST also accepts
        code = body[tags.end() :]
        found.append(Cell(text.count("\n", 0, match.start(1)) + 1, names, code))
    return found


def _is_report_call(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in REPORT_CALLS
    )


def _report_names(tree: ast.AST) -> set[str]:
    """Names bound to a report (`report = rg.verify(...)`, `reports[k] = ...`)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and _is_report_call(node.value):
            for target in node.targets:
                while isinstance(target, ast.Subscript):
                    target = target.value
                if isinstance(target, ast.Name):
                    names.add(target.id)
    return names


def _shows(node: ast.AST, names: set[str]) -> bool:
    """Whether an expression is a report (a call, a name bound to one, an item of one)."""
    if _is_report_call(node):
        return True
    while isinstance(node, ast.Subscript):
        node = node.value
    return isinstance(node, ast.Name) and node.id in names


def shows_a_report(code: str, names: set[str]) -> bool:
    """Whether the cell shows a full report: its last expression, print() or display()."""
    lines = [line for line in code.splitlines() if not line.lstrip().startswith("%")]
    try:
        tree = ast.parse("\n".join(lines))
    except SyntaxError:
        return False
    names |= _report_names(tree)
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        value = tree.body[-1].value
        items = value.elts if isinstance(value, ast.Tuple) else [value]
        if any(_shows(item, names) for item in items):
            return True
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in {"print", "display"}
            and any(_shows(arg, names) for arg in node.args)
        ):
            return True
    return False


def page_stats(path: Path) -> PageStats:
    text = path.read_text()
    stats = PageStats(path)
    names: set[str] = set()
    for cell in cells(text):
        if cell.folded:
            stats.folded_asserts += cell.asserts
        else:
            stats.visible_asserts += cell.asserts
            stats.max_asserts_in_a_cell = max(stats.max_asserts_in_a_cell, cell.asserts)
            if cell.asserts > MAX_ASSERTS_PER_CELL:
                stats.crowded_cells.append(cell.line)
        if shows_a_report(cell.code, names):
            stats.report_cells.append(cell.line)
        try:
            names |= _report_names(ast.parse(cell.code.replace("\n%", "\n#")))
        except SyntaxError:
            pass
    section = re.search(r"^## Try it\s*$(.*?)(?=^## |\Z)", text, re.M | re.S)
    if section:
        stats.try_it = True
        stats.try_it_solution = any(
            "hide-input" in cell.tags and cell.asserts for cell in cells(section.group(1))
        )
    return stats


HIDDEN = {"remove-cell", "remove-input"}


def _parse(code: str) -> ast.Module | None:
    lines = ["pass" if line.lstrip().startswith(("%", "!")) else line for line in code.splitlines()]
    try:
        return ast.parse("\n".join(lines))
    except SyntaxError:
        return None


def _comprehension_names(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            for gen in node.generators:
                names |= {n.id for n in ast.walk(gen.target) if isinstance(n, ast.Name)}
    return names


def _bound(tree: ast.AST) -> set[str]:
    """Names a statement (or cell) binds, comprehension variables aside."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
    return names - _comprehension_names(tree)


def _read_before_bound(tree: ast.Module) -> set[str]:
    """Names a cell reads before it binds them (statements in order, into blocks)."""
    read: set[str] = set()
    bound: set[str] = set()

    def visit(statements: list[ast.stmt]) -> None:
        for statement in statements:
            if isinstance(statement, (ast.For, ast.AsyncFor)):
                read.update(_loads(statement.iter) - bound)
                bound.update(n.id for n in ast.walk(statement.target) if isinstance(n, ast.Name))
                visit(statement.body + statement.orelse)
            elif isinstance(statement, (ast.If, ast.While)):
                read.update(_loads(statement.test) - bound)
                visit(statement.body + statement.orelse)
            elif isinstance(statement, (ast.With, ast.AsyncWith)):
                for item in statement.items:
                    read.update(_loads(item.context_expr) - bound)
                    if item.optional_vars is not None:
                        bound.update(_bound(item.optional_vars))
                visit(statement.body)
            else:
                read.update(_loads(statement) - bound)
            bound.update(_bound(statement))

    visit(tree.body)
    return read


def _loads(node: ast.AST) -> set[str]:
    loads = {
        n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)
    }
    return loads - _comprehension_names(node)


def hidden_names_read_later(text: str) -> list[tuple[int, set[str]]]:
    """Hidden cells (remove-cell, remove-input) that bind a name a later shown cell reads.

    A hidden cell may set IPython options and check (asserts, and the values
    they need); a reader copies the shown cells, and they must run without it.
    Returns (line of the hidden cell, the names) for each offender.
    """
    parsed = [(cell, _parse(cell.code)) for cell in cells(text)]
    found = []
    for k, (cell, tree) in enumerate(parsed):
        if not (cell.tags & HIDDEN) or tree is None:
            continue
        live, needed = _bound(tree), set()
        for later, later_tree in parsed[k + 1 :]:
            if later_tree is None or not live:
                continue
            if not (later.tags & HIDDEN):
                needed |= live & _read_before_bound(later_tree)
            live -= _bound(later_tree)
        if needed:
            found.append((cell.line, needed))
    return found


def concept_pages(docs: Path = DOCS) -> list[Path]:
    return sorted((docs / "concepts").glob("*.md"))


def main(argv: list[str]) -> int:
    docs = Path(argv[0]) if argv else DOCS
    pages = sorted(p for p in docs.rglob("*.md") if "_build" not in p.parts)
    print(f"{'page':34} {'visible':>7} {'folded':>6} {'max/cell':>8} {'reports':>7}  try it")
    concept_total = total = 0
    for path in pages:
        s = page_stats(path)
        total += s.visible_asserts
        if path.parent.name == "concepts":
            concept_total += s.visible_asserts
        try_it = ("yes, folded solution" if s.try_it_solution else "yes") if s.try_it else "-"
        print(
            f"{path.relative_to(docs)!s:34} {s.visible_asserts:7} {s.folded_asserts:6} "
            f"{s.max_asserts_in_a_cell:8} {len(s.report_cells):7}  {try_it}"
        )
    print(f"visible asserts: {concept_total} on concept pages, {total} on all pages")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
