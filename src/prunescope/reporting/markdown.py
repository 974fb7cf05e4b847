"""Markdown tables: the one builder that the sweep report, ``bench.md`` and the studies' RESULTS tables use."""

from __future__ import annotations

from collections.abc import Sequence

ALIGN_RULES = {"l": "---", "r": "---:"}


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]], align: str | None = None) -> str:
    """A GitHub-flavoured Markdown table, without a trailing newline.

    Args:
        header: column titles.
        rows: cells as text (formatting and escaping are the caller's), each row as long as ``header``.
        align: one ``l`` (left) or ``r`` (right) per column; default: the first column left, the others right.

    Returns:
        ``| a | b |``, then ``| --- | ---: |``, then one line per row.

    Raises:
        ValueError: ``align`` or a row does not have one entry per column, or ``align`` holds another letter.
    """
    width = len(header)
    align = "l" + "r" * (width - 1) if align is None else align
    if len(align) != width or set(align) - set(ALIGN_RULES):
        raise ValueError(f"align must hold one of l/r per column ({width}), got {align!r}")
    for row in rows:
        if len(row) != width:
            raise ValueError(f"a row has {len(row)} cells for {width} columns: {list(row)}")
    lines = [
        [str(title) for title in header],
        [ALIGN_RULES[a] for a in align],
        *([str(c) for c in r] for r in rows),
    ]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)
