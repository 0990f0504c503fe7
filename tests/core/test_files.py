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


def test_a_replaced_file_keeps_its_permissions_and_a_new_one_gets_the_usual(tmp_path):
    import os

    mask = os.umask(0o022)
    try:
        fresh = write_text(tmp_path / "new.json", "{}")
        assert fresh.stat().st_mode & 0o777 == 0o644  # not mkstemp's owner-only 0o600
        kept = tmp_path / "kept.json"
        kept.write_text("old")
        kept.chmod(0o640)
        write_text(kept, "new")
        assert kept.stat().st_mode & 0o777 == 0o640 and kept.read_text() == "new"
    finally:
        os.umask(mask)


def test_a_failed_write_names_the_file_not_its_temporary_copy(tmp_path):
    target = tmp_path / "report.html"
    with pytest.raises(OSError) as raised, replaced(target):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / ".x.partial"))
    assert raised.value.filename == str(target) and raised.value.errno == errno.ENOSPC
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("name", ["run.csv", "run.jsonl"])
def test_a_streamed_log_never_overwrites_an_existing_one(tmp_path, name):
    log = tmp_path / name
    log.write_text("a log from yesterday\n")
    with pytest.raises(FileExistsError, match=re.escape(f"log: {log} already exists")):
        History().record_to(log)
    assert log.read_text() == "a log from yesterday\n"
    empty = tmp_path / f"empty-{name}"
    empty.touch()
    history = History()
    history.record_to(empty)
    history.append(0, loss=1.0)
    history.close()
    assert History.read(empty)[0]["loss"] == 1.0


def test_a_csv_log_that_grows_a_column_is_rewritten_whole(tmp_path, monkeypatch):
    log = tmp_path / "run.csv"
    history = History()
    history.record_to(log)
    history.append(0, loss=2.0)
    history.append(1, loss=1.5)
    history.append(2, loss=1.0, val_loss=1.2)
    failing = {"on": True}
    real_replace = __import__("os").replace

    def replace(src, dst):
        if failing["on"]:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_replace(src, dst)

    before = log.read_text()
    monkeypatch.setattr("lrkit._files.os.replace", replace)
    with pytest.raises(OSError, match="No space left"):
        history.append(3, loss=0.9, grad_norm=0.1)
    assert log.read_text() == before and leftovers(tmp_path) == []
    failing["on"] = False
    history.append(4, loss=0.8, grad_norm=0.1)
    history.close()
    rows = History.read(log)
    assert [row["step"] for row in rows] == [0, 1, 2, 3, 4]
    assert rows[2]["val_loss"] == 1.2 and rows[4]["grad_norm"] == 0.1
