"""The one Markdown table builder, and no other place that writes a table's rule line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from prunescope.reporting.markdown import markdown_table

REPO = Path(__file__).resolve().parents[2]
USERS = (
    "src/prunescope/reporting/tables.py",
    "src/prunescope/benchmarks/report.py",
    "experiments/study_tables.py",
    "experiments/study_speedups.py",
)


def test_header_rule_and_rows_with_the_default_alignment() -> None:
    text = markdown_table(
        ["model", "ratio", "speed-up"], [["segnet", "0.5", "2.3×"], ["unet", "0.7", "3.5×"]]
    )
    assert text == (
        "| model | ratio | speed-up |\n| --- | ---: | ---: |\n| segnet | 0.5 | 2.3× |\n| unet | 0.7 | 3.5× |"
    )


def test_alignment_per_column_and_an_empty_body() -> None:
    assert markdown_table(["a", "b", "c"], [], "rlr") == "| a | b | c |\n| ---: | --- | ---: |"


@pytest.mark.parametrize(
    ("rows", "align", "message"),
    [([["x"]], None, "1 cells for 2 columns"), ([], "l", "one of l/r per column"), ([], "lc", "one of l/r")],
)
def test_a_ragged_table_is_refused(rows: list, align: str | None, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        markdown_table(["a", "b"], rows, align)


@pytest.mark.parametrize("path", USERS)
def test_the_report_bench_and_study_tables_use_the_builder(path: str) -> None:
    """Their text holds no rule line of its own (``---:`` / ``|---``) and calls the builder."""
    text = (REPO / path).read_text()
    assert not re.search(r"\|\s*-{3}|-{3}:", text), f"{path} builds a table rule by hand"
    assert "markdown_table" in text
