"""The package's rooms: a subpackage's private names stay inside it, so the tools (cli,
compare, search, report, tasks) reach other packages through public names only. A private
module at lrkit's top (``lrkit._files``, ``lrkit._checks``, ...) is shared by all of lrkit."""

from __future__ import annotations

import ast
from pathlib import Path

import lrkit

ROOT = Path(lrkit.__file__).parent


def _imported(path: Path) -> list[tuple[str, int]]:
    """Every ``lrkit.…`` name ``path`` imports (``from lrkit.a import b`` gives ``lrkit.a.b``)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}:{node.lineno}: lrkit imports absolutely"
            module = node.module or ""
            if module == "lrkit" or module.startswith("lrkit."):
                found += [(f"{module}.{alias.name}", node.lineno) for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [
                (alias.name, node.lineno) for alias in node.names if alias.name.startswith("lrkit.")
            ]
    return found


def crossings(root: Path = ROOT) -> list[str]:
    """``file:line imports name`` for every private name taken from another room."""
    bad = []
    for path in sorted(root.rglob("*.py")):
        here = path.relative_to(root).parts[0].removesuffix(".py")
        for name, line in _imported(path):
            room, *inside = name.split(".")[1:]
            private = [p for p in inside if p.startswith("_") and not p.startswith("__")]
            if room != here and private:
                bad.append(f"{path.relative_to(root)}:{line} imports {name}")
    return bad


def test_no_module_imports_another_packages_private_names():
    assert crossings() == []


def test_a_private_name_taken_from_another_room_is_found(tmp_path):
    (tmp_path / "report").mkdir()
    (tmp_path / "report" / "html.py").write_text(
        "from lrkit.compare.summary import _Spread\n"
        "from lrkit.report import _own\n"
        "from lrkit import _files\n"
        "import lrkit.schedules._checks\n"
    )
    assert crossings(tmp_path) == [
        "report/html.py:1 imports lrkit.compare.summary._Spread",
        "report/html.py:4 imports lrkit.schedules._checks",
    ]


def test_the_cli_and_the_report_take_the_comparison_from_lrkit_compare_itself():
    from lrkit import compare

    for room in ("cli", "report"):
        for path in sorted((ROOT / room).glob("*.py")):
            for name, line in _imported(path):
                module, _, attribute = name.rpartition(".")
                if name.startswith("lrkit.compare."):
                    assert module == "lrkit.compare" and attribute in compare.__all__, (
                        f"{path.relative_to(ROOT)}:{line} imports {name}"
                    )


def test_the_comparison_s_file_and_spread_are_public():
    from lrkit import compare
    from lrkit.compare.store import FILENAME
    from lrkit.compare.summary import Spread
    from lrkit.report import write

    assert compare.FILENAME is FILENAME == "compare.sqlite"
    assert compare.Spread is Spread
    assert write.COMPARISON_FILE == FILENAME
