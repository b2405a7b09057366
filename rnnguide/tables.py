"""Plain-text and HTML tables: the reports' and describe()'s, and the pages'.

:class:`Printed` is the one way a result is shown: a result says what it holds
(a title, its tables, closing lines) and Printed renders it, as aligned text and
as HTML in a notebook. :class:`Table` is what pages use to show a table of their
own results, printed the same way.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

__all__ = ["Printed", "Table", "html_table", "text_table"]


class Printed:
    """What results print from: :meth:`_parts` says what to show, nothing else renders.

    ``_parts()`` is ``(title, tables, lines)``: ``tables`` a list of
    ``(headers, rows, caption)`` (the first table's caption in HTML is the title
    unless it has its own), ``lines`` what follows the tables. A result made of
    other results (a model's report: one per layer call) lists them in
    :meth:`_sections`, ``(heading, Printed)`` pairs shown after its own lines.
    """

    def _parts(self) -> tuple[str, list, list]:
        raise NotImplementedError

    def _sections(self) -> list:
        return []

    def __repr__(self) -> str:
        title, tables, lines = self._parts()
        out = [title] if title else []
        for headers, rows, caption in tables:
            out += [caption] * bool(caption) + [text_table(headers, rows)]
        out += list(lines)
        out += [f"\n[{heading}] {part!r}" for heading, part in self._sections()]
        return "\n".join(out)

    def __str__(self) -> str:
        return repr(self)

    def _repr_html_(self) -> str:
        title, tables, lines = self._parts()
        sections = self._sections()
        body = "".join(
            html_table(headers, rows, caption or (title if k == 0 else ""))
            for k, (headers, rows, caption) in enumerate(tables)
        )
        if not tables and title:  # a title over sections is theirs: set in bold
            shown = f"<b>{html.escape(title)}</b>" if sections else html.escape(title)
            body = f"<p>{shown}</p>"
        body += "".join(f"<p>{html.escape(line)}</p>" for line in lines)
        return body + "".join(
            f"<h4>{html.escape(heading)}</h4>{part._repr_html_()}" for heading, part in sections
        )


@dataclass(repr=False)
class Table(Printed):
    """A table that prints as text and renders as HTML in notebooks.

    >>> Table(("kind", "params"), [("LSTM", "291,840"), ("GRU", "221,184")])
    kind  params
    ----  -------
    LSTM  291,840
    GRU   221,184
    """

    headers: tuple
    rows: list = field(default_factory=list)
    caption: str = ""

    def _parts(self):
        return self.caption, [(self.headers, self.rows, "")], []


def text_table(headers, rows) -> str:
    """Columns aligned with spaces, a rule under the headers; cells may span lines."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    widths = [
        max(len(line) for row in cells for line in row[i].split("\n")) for i in range(len(headers))
    ]

    def fmt(row):
        parts = [c.split("\n") for c in row]
        height = max(len(p) for p in parts)
        lines = []
        for k in range(height):
            lines.append(
                "  ".join(
                    (p[k] if k < len(p) else "").ljust(w) for p, w in zip(parts, widths)
                ).rstrip()
            )
        return lines

    rule = "  ".join("-" * w for w in widths)
    out = fmt(cells[0]) + [rule]
    for row in cells[1:]:
        out += fmt(row)
    return "\n".join(out)


def _cell(value) -> str:
    """A cell's text, escaped; a line break is ``<br>``, and a long name such as
    ``return_sequences`` may break after its underscores on a narrow screen."""
    return html.escape(str(value)).replace(chr(10), "<br>").replace("_", "_<wbr>")


def html_table(headers, rows, caption: str = "") -> str:
    """The same table as HTML (escaped; line breaks become ``<br>``)."""
    head = "".join(f"<th>{_cell(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_cell(c)}</td>" for c in row) + "</tr>" for row in rows)
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return f'<table class="rnnguide-table">{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
