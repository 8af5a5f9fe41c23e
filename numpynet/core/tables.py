"""Aligned plain-text tables: the one writer behind the tables numpynet prints."""

from __future__ import annotations


def text_table(header, rows, align=None, title=None):
    """``rows`` (sequences of strings, one per column of ``header``) as an aligned plain-text table.

    The lines are ``title`` (if given; it may hold several lines), a rule, the header, a rule, the rows and a
    closing rule; columns are two spaces apart and every column is as wide as its widest cell. ``align`` holds one
    letter per column, "l" (left, the default) or "r" (right, e.g. for numbers). Trailing blanks are stripped.

    >>> print(text_table(("name", "n"), [("a", "1"), ("bb", "10")], align="lr"))
    ----  --
    name   n
    ----  --
    a      1
    bb    10
    ----  --
    """
    header = [str(h) for h in header]
    rows = [[str(cell) for cell in row] for row in rows]
    align = align or "l" * len(header)
    widths = [max([len(h)] + [len(row[i]) for row in rows]) for i, h in enumerate(header)]

    def join(cells):
        return "  ".join(c.rjust(w) if a == "r" else c.ljust(w) for c, w, a in zip(cells, widths, align)).rstrip()
    rule = "  ".join("-" * w for w in widths)
    return "\n".join(([title] if title else []) + [rule, join(header), rule] + [join(r) for r in rows] + [rule])
