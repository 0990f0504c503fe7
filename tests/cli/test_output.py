"""The CLI's one rendering module: tables, number formats and the lines on stderr, and no
command building its own rich tables or consoles."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytest.importorskip("rich")

from lrkit.cli import output  # noqa: E402
from lrkit.compare import Spread  # noqa: E402

CLI = Path(output.__file__).parent


def test_table_columns_keep_their_order_justification_and_wrapping():
    shown = output.table("t", ["name", "lr", "note"], right=["lr"], no_wrap=["name"])
    assert shown.title == "t"
    assert [c.header for c in shown.columns] == ["name", "lr", "note"]
    assert [c.justify for c in shown.columns] == ["left", "right", "left"]
    assert [c.no_wrap for c in shown.columns] == [True, False, False]


def test_numbers_are_shown_the_same_way_everywhere():
    assert output.rate(0.0012345) == "0.00123"
    assert output.span(1e-4, 0.0312) == "0.0001 … 0.0312"
    assert output.spread(None) == output.MISSING == "—"
    assert output.spread(Spread(0.91234, 0.0123, 1)) == "0.912"
    assert output.spread(Spread(0.91234, 0.0123, 3)) == "0.912 ± 0.012"
    assert output.spread(Spread(4.0, 0.5, 2), 1) == "4.0 ± 0.5"
    assert output.cell(None) == "—"
    assert output.cell(0.123456) == "0.1235"
    assert output.cell(7) == "7"


def test_errors_and_warnings_are_one_line_on_stderr(capsys):
    output.error("--out: bad")
    output.warning("slow")
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "lrkit: error: --out: bad\nlrkit: warning: slow\n"


def test_only_the_output_module_imports_rich():
    for path in sorted(CLI.glob("*.py")):
        if path.name == "output.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            assert not any(n.split(".")[0] == "rich" for n in names), f"{path.name}:{node.lineno}"
