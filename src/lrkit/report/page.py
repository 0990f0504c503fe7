"""What every report page shares: the page frame with its inline CSS, figures with PNGs
inlined as base64, number formatting and the errors section.

Every string that came from a user goes through :func:`html.escape`.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1200px;
       padding: 0 1rem; color: #222; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.25rem; margin-top: 2rem; }
.settings { color: #555; }
.verdict { background: #f4f7fb; border-left: 4px solid #3b73b9; padding: .6rem 1rem; }
table { border-collapse: collapse; width: 100%; font-size: .9rem; }
th, td { border-bottom: 1px solid #ddd; padding: .35rem .5rem; text-align: right;
         white-space: nowrap; }
th:first-child, td:first-child, td.text { text-align: left; }
th, td.text { white-space: normal; }
.scroll { overflow-x: auto; }
tr.winner { background: #eaf5ea; font-weight: 600; }
.status-diverged { color: #b3261e; } .status-too-slow { color: #9a6700; }
.status-failed { color: #777; }
figure { margin: 1.5rem 0; } figure img { max-width: 100%; height: auto; display: block; }
figcaption { color: #555; font-size: .9rem; }
pre { background: #f6f6f6; padding: .6rem; overflow-x: auto; font-size: .8rem; }
"""


def page(title: str, body: str, *, style: str = "") -> str:
    """A whole HTML document titled ``title`` (escaped here) around ``body`` (HTML);
    ``style`` is CSS added to the shared :data:`STYLE`."""
    title = escape(title)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>{title}</title><style>{STYLE}{style}</style></head>
<body>
<h1>{title}</h1>
{body}
</body></html>
"""


def number(value: Any) -> str:
    """Floats with 4 significant digits, everything else as ``str``."""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def figure(path: Path, alt: str, caption: str, ident: str) -> str:
    """``path`` (a PNG) inlined as a ``<figure>`` with its caption."""
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (
        f'<figure id="{escape(ident)}"><img src="data:image/png;base64,{data}" '
        f'alt="{escape(alt)}"><figcaption>{escape(caption)}</figcaption></figure>'
    )


def figures(images: Sequence[tuple[Path, str, str]]) -> str:
    """``images`` given as ``(png path, alt text, caption)``, each with id ``plot-<stem>``."""
    return "".join(figure(path, alt, caption, f"plot-{path.stem}") for path, alt, caption in images)


def errors(items: Sequence[tuple[str, str]]) -> str:
    """An "Errors" section, one ``(heading, message)`` each; empty without errors."""
    if not items:
        return ""
    return "<h2>Errors</h2>" + "".join(
        f"<h3>{escape(heading)}</h3><pre>{escape(message)}</pre>" for heading, message in items
    )
