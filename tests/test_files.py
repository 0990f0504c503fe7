"""Finished files are written in one step: a failure part-way leaves the old file as it was."""

import errno
import re
from pathlib import Path

import pytest

from lrkit import RangeTestResult
from lrkit._files import replaced, save_figure, write_text
from lrkit.history import History


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".partial" in p.name)


def test_a_failure_while_writing_keeps_the_old_file_and_leaves_nothing_behind(tmp_path):
    target = tmp_path / "lr_find.json"
    target.write_text("the good old result")
    with pytest.raises(OSError, match="No space left"), replaced(target) as partial:
        partial.write_text("half of a new resu")
        raise OSError(errno.ENOSPC, "No space left on device")
    assert target.read_text() == "the good old result"
    assert leftovers(tmp_path) == []
    write_text(target, "new")
    assert target.read_text() == "new" and leftovers(tmp_path) == []


def test_a_full_disk_during_to_json_keeps_the_previous_result(tmp_path, monkeypatch):
    result = RangeTestResult([1e-3, 1e-2], [1.0, 0.5], [1.0, 0.6], "completed")
    path = tmp_path / "lr_find.json"
    result.to_json(path)
    good = path.read_text()

    def full_disk(self, text, *args, **kwargs):
        with open(self, "w") as handle:
            handle.write(text[:10])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_text", full_disk)
    with pytest.raises(OSError):
        result.to_json(path, overwrite=True)
    monkeypatch.undo()
    assert path.read_text() == good and leftovers(tmp_path) == []


def test_figures_and_histories_are_replaced_whole(tmp_path):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, _ = plt.subplots()
    target = tmp_path / "curve.png"
    save_figure(figure, target)
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and leftovers(tmp_path) == []
    history = History()
    history.append(0, loss=1.0)
    saved = tmp_path / "history.csv"
    history.save(saved)
    before = saved.read_text()
    with pytest.raises(ValueError, match="cannot tell the format"):
        history.save(tmp_path / "history.txt")
    assert saved.read_text() == before and not (tmp_path / "history.txt").exists()
    assert leftovers(tmp_path) == []
    plt.close(figure)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"lrs": [1, 2', "not valid JSON (Expecting"),
        ("[1, 2]", "expected a JSON object, got list"),
        (b"\xff\xfe\x00garbage", "not a JSON file (not UTF-8 text)"),
    ],
)
def test_a_corrupt_result_file_is_named_with_what_is_wrong(tmp_path, content, message):
    from lrkit.search import SearchResult

    path = tmp_path / "lr_find.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    for reader in (RangeTestResult.from_json, SearchResult.from_json):
        with pytest.raises(
            ValueError, match=str(path).replace(".", r"\.") + ": " + re.escape(message)
        ):
            reader(path)
