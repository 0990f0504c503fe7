"""With an optional package missing, the CLI says in one line which extra installs it."""

import importlib.metadata
import subprocess
import sys

import pytest

from lrkit._optional import EXTRAS, MissingExtra, missing_extra, require

#: Run the CLI with some top-level modules made unimportable, as if not installed.
BLOCKED_RUN = """
import importlib.abc, sys
blocked = set(sys.argv[1].split(","))

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in blocked:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, Block())
from lrkit.cli import main
sys.exit(main(sys.argv[2:]))
"""


def run_without(modules: str, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", BLOCKED_RUN, modules, *argv],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("modules", "argv", "extra"),
    [
        (
            "rich,torch,matplotlib",
            ["schedule", "cosine", "--lr", "0.1", "--total-steps", "10"],
            "cli",
        ),
        ("torch", ["find", "--task", "digits-cnn", "--no-progress"], "torch"),
        ("optuna", ["search", "--task", "digits-cnn", "--n-trials", "1"], "search"),
    ],
)
def test_a_missing_extra_is_one_line_naming_what_to_install(modules, argv, extra, tmp_path):
    done = run_without(
        modules, *argv, *(["--out", str(tmp_path / "out")] if argv[0] != "schedule" else [])
    )
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("lrkit: error: this part of lrkit needs")
    assert f"pip install 'lrkit[{extra}]'" in lines[0]
    assert not (tmp_path / "out").exists()


def test_missing_extra_reads_lrkits_own_and_pythons_import_errors():
    with pytest.raises(MissingExtra, match=r"pip install 'lrkit\[plot\]'"):
        require("lrkit_no_such_module", "plot")
    plain = ModuleNotFoundError("No module named 'optuna.storages'", name="optuna.storages")
    assert missing_extra(plain) == (
        "this part of lrkit needs 'optuna', which is not installed; "
        "install it with: pip install 'lrkit[search]'"
    )
    assert missing_extra(ModuleNotFoundError("No module named 'mymodel'", name="mymodel")) is None
    assert missing_extra(ImportError("cannot import name 'x' from 'torch'", name="torch")) is None


def test_every_extra_named_exists_in_the_package_metadata():
    extras = importlib.metadata.metadata("lrkit").get_all("Provides-Extra") or []
    assert set(EXTRAS.values()) <= set(extras)


def test_doctor_without_matplotlib_writes_its_report_and_says_why_there_is_no_picture(tmp_path):
    log = tmp_path / "run.csv"
    log.write_text("step,loss\n" + "".join(f"{i},{2.0 - i / 100}\n" for i in range(60)))
    out = tmp_path / "out"
    done = run_without("matplotlib", "doctor", str(log), "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().splitlines() == [
        "lrkit doctor: no doctor.png: this part of lrkit needs 'matplotlib', which is not "
        "installed; install it with: pip install 'lrkit[plot]'"
    ]
    assert (out / "doctor.json").exists() and not (out / "doctor.png").exists()
    assert f"wrote {out / 'doctor.json'}\n" in done.stdout
