"""Plain-text and HTML tables, shared by the report and describe()."""

from __future__ import annotations

import html


def text_table(headers, rows) -> str:
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


def html_table(headers, rows, caption: str = "") -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
    body = "".join(
        "<tr>"
        + "".join(f"<td>{html.escape(str(c)).replace(chr(10), '<br>')}</td>" for c in row)
        + "</tr>"
        for row in rows
    )
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return f'<table class="rnnguide-table">{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
