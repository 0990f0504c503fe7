"""MkDocs hooks: the pages that would go stale if written by hand are generated at build time.

- ``<!-- thresholds -->`` becomes the doctor's thresholds table, read from
  ``lrkit.doctor.describe()`` and ``lrkit.doctor.for_unit("epoch")``.
- ``<!-- schedules-gallery -->`` becomes the schedule gallery, read from the examples that
  ``scripts/plot_schedules.py`` draws (formula from each schedule class).
- ``<!-- results: FILE -->`` includes ``benchmarks/results/FILE`` without its title, and
  ``<!-- results: FILE#HEADING -->`` only the text under that heading, up to the next one.
- Sphinx roles in docstrings (``:func:`name```) render as plain code in the API reference.
- Every ``benchmarks/results/*.md`` becomes a page ``benchmarks/results/NAME.md``, listed
  under "Benchmarks" in the navigation.

A marker whose file or heading is missing fails the build.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
MARKER = re.compile(
    r"<!--\s*(thresholds|schedules-gallery|results:\s*([^#\s]+)(?:#([^>]+?))?)\s*-->"
)

ROLE = re.compile(r":(?:py:)?(?:func|class|meth|attr|data|mod|exc|obj):(?=<code>)")

if str(ROOT / "src") not in sys.path:
    sys.path.insert(0, str(ROOT / "src"))


class MarkerError(ValueError):
    """A marker in a page names a file or a heading that does not exist."""


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|")


def thresholds_table() -> str:
    from lrkit.doctor import describe, for_unit

    epoch = for_unit("epoch")
    rows = [
        "| threshold | per step | per epoch | allowed | meaning |",
        "| --- | ---: | ---: | --- | --- |",
    ]
    for name, default, allowed, meaning in describe():
        rows.append(
            f"| `{name}` | {default} | {getattr(epoch, name)} | {_cell(allowed)} | "
            f"{_cell(meaning)} |"
        )
    return "\n".join(rows)


def _plot_schedules() -> Any:
    spec = importlib.util.spec_from_file_location(
        "plot_schedules", ROOT / "scripts" / "plot_schedules.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def schedules_gallery(page_path: str) -> str:
    depth = page_path.count("/")
    prefix = "../" * depth + "images/schedules/"
    rows = ["| schedule | formula (t = step) | example | picture |", "| --- | --- | --- | --- |"]
    for name, schedule, _, _, call in _plot_schedules().examples():
        formula = _cell(type(schedule).formula)
        rows.append(
            f"| `{schedule.name}` | `{formula}` | `{_cell(call)}` | ![{name}]({prefix}{name}.png) |"
        )
    return "\n".join(rows)


def _without_title(text: str) -> str:
    lines = text.splitlines()
    if lines and lines[0].startswith("# "):
        lines = lines[1:]
    return "\n".join(lines).strip("\n")


def _demote(text: str) -> str:
    return re.sub(r"^(#+) ", r"#\1 ", text, flags=re.MULTILINE)


def results(name: str, heading: str | None) -> str:
    path = RESULTS / name
    if not path.is_file():
        raise MarkerError(f"results: {path} does not exist")
    text = path.read_text(encoding="utf-8")
    if heading is None:
        return _demote(_without_title(text))
    heading = heading.strip()
    lines = text.splitlines()
    for i, line in enumerate(lines):
        match = re.match(r"^(#+) (.*)$", line)
        if match and match.group(2).strip() == heading:
            body = []
            for rest in lines[i + 1 :]:
                if re.match(r"^#+ ", rest):  # the section's own text, not its subsections
                    break
                body.append(rest)
            return "\n".join(body).strip("\n")
    raise MarkerError(f"results: {name} has no heading {heading!r}")


def expand(markdown: str, page_path: str) -> str:
    def replace(match: re.Match[str]) -> str:
        what = match.group(1)
        if what == "thresholds":
            return thresholds_table()
        if what == "schedules-gallery":
            return schedules_gallery(page_path)
        return results(match.group(2), match.group(3))

    return MARKER.sub(replace, markdown)


def _results_pages() -> list[tuple[str, str]]:
    """(title, page path) of every results file, in name order."""
    pages = []
    for path in sorted(RESULTS.glob("*.md")):
        first = path.read_text(encoding="utf-8").splitlines()[:1]
        title = first[0][2:].strip() if first and first[0].startswith("# ") else path.stem
        pages.append((title.replace("`", ""), f"benchmarks/results/{path.name}"))
    return pages


# --- MkDocs event handlers -------------------------------------------------------------


def on_config(config: Any) -> Any:
    nav = config.get("nav") or []
    for entry in nav:
        if isinstance(entry, dict) and "Benchmarks" in entry:
            children = entry["Benchmarks"]
            if isinstance(children, str):
                children = [{"Overview": children}]
            listed = {c if isinstance(c, str) else next(iter(c.values())) for c in children}
            extra = [{title: page} for title, page in _results_pages() if page not in listed]
            entry["Benchmarks"] = [*children, {"Results files": extra}]
    return config


def on_files(files: Any, config: Any) -> Any:
    from mkdocs.structure.files import File

    for path in sorted(RESULTS.glob("*.md")):
        uri = f"benchmarks/results/{path.name}"
        header = (
            f"<!-- generated from benchmarks/results/{path.name}; edit the benchmark, "
            "not this page -->\n\n"
        )
        files.append(File.generated(config, uri, content=header + path.read_text(encoding="utf-8")))
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    return expand(markdown, page.file.src_uri)


def on_page_content(html: str, page: Any, config: Any, files: Any) -> str:
    return ROLE.sub("", html)
