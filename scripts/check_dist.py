"""Check a built wheel and sdist, then install the wheel alone in a fresh venv.

    python -m build --outdir dist . && python scripts/check_dist.py dist

Checks: one wheel and one sdist, named with ``lrkit.__version__``; no raw benchmark runs
(``*.jsonl``) in either; the wheel holds the package and ``py.typed`` and nothing else; in a
fresh venv with the base install only (numpy), ``lrkit --help`` runs, and every command that
needs an optional extra exits with status 1 and one line on stderr naming
``pip install 'lrkit[EXTRA]'`` (no traceback). Prints what failed and exits 1 on any failure.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import tarfile
import tempfile
import venv
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def version() -> str:
    tree = ast.parse((ROOT / "src" / "lrkit" / "__init__.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__version__" for t in node.targets
        ):
            return str(ast.literal_eval(node.value))
    raise SystemExit("src/lrkit/__init__.py: no __version__")


def check_archives(dist: Path, problems: list[str]) -> Path:
    wheels, sdists = sorted(dist.glob("*.whl")), sorted(dist.glob("*.tar.gz"))
    if len(wheels) != 1 or len(sdists) != 1:
        raise SystemExit(f"{dist}: expected one wheel and one sdist, found {wheels + sdists}")
    wheel, sdist = wheels[0], sdists[0]
    expected = version()
    if not wheel.name.startswith(f"lrkit-{expected}-"):
        problems.append(f"{wheel.name}: not version {expected}")
    if sdist.name != f"lrkit-{expected}.tar.gz":
        problems.append(f"{sdist.name}: not version {expected}")
    wheel_names = zipfile.ZipFile(wheel).namelist()
    with tarfile.open(sdist) as archive:
        sdist_names = archive.getnames()
    for name in wheel_names + sdist_names:
        if name.endswith(".jsonl"):
            problems.append(f"raw benchmark runs in a package: {name}")
    outside = [
        n for n in wheel_names if not n.startswith(("lrkit/", f"lrkit-{expected}.dist-info/"))
    ]
    if outside:
        problems.append(f"{wheel.name}: files outside the package: {outside[:5]}")
    for needed in ("lrkit/__init__.py", "lrkit/py.typed", "lrkit/cli/__init__.py"):
        if needed not in wheel_names:
            problems.append(f"{wheel.name}: {needed} is missing")
    prefix = f"lrkit-{expected}/"
    for needed in ("README.md", "CHANGELOG.md", "pyproject.toml", "src/lrkit/__init__.py"):
        if prefix + needed not in sdist_names:
            problems.append(f"{sdist.name}: {needed} is missing")
    print(f"{wheel.name}: {len(wheel_names)} files; {sdist.name}: {len(sdist_names)} files")
    return wheel


def run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=300)


def check_base_install(wheel: Path, problems: list[str]) -> None:
    with tempfile.TemporaryDirectory(prefix="lrkit-wheel-") as tmp:
        work = Path(tmp)
        env_dir = work / "venv"
        venv.create(env_dir, with_pip=True)
        python = env_dir / "bin" / "python"
        install = run([str(python), "-m", "pip", "install", "--quiet", str(wheel)], work)
        if install.returncode:
            raise SystemExit(f"pip install {wheel.name} failed:\n{install.stderr}")
        listed = run([str(python), "-m", "pip", "list", "--format=freeze"], work).stdout
        installed = sorted(line.split("==")[0].lower() for line in listed.split())
        extra = [p for p in installed if p not in ("lrkit", "numpy", "pip", "setuptools")]
        if extra:
            problems.append(f"the base install pulled in more than numpy: {extra}")
        lrkit = str(env_dir / "bin" / "lrkit")
        helped = run([lrkit, "--help"], work)
        if helped.returncode or "usage" not in helped.stdout.lower():
            problems.append(f"lrkit --help: exit {helped.returncode}\n{helped.stderr}")
        else:
            print("lrkit --help: ok")
        imported = run([str(python), "-c", "import lrkit, lrkit.schedules, lrkit.doctor"], work)
        if imported.returncode:
            problems.append(f"import lrkit with numpy only failed:\n{imported.stderr}")
        log = work / "run.csv"
        log.write_text(
            "step,lr,loss\n" + "".join(f"{i},0.01,{2.0 / (1 + i)}\n" for i in range(40)),
            encoding="utf-8",
        )
        (work / "empty").mkdir()
        commands = [
            ["find", "--task", "digits-cnn"],
            ["auto", "--task", "digits-cnn"],
            ["schedule", "cosine", "--lr", "0.1", "--total-steps", "10"],
            ["doctor", str(log), "--out", str(work / "doctor-out")],
            ["compare", "--task", "digits-cnn", "--preset", "fixed-lrs", "--out", "c-out"],
            ["search", "--task", "digits-cnn", "--out", "s-out"],
            ["search", "worker", "--study-name", "s", "--storage", str(work / "s.journal")],
        ]
        # ``report`` needs a directory written by compare or search, which needs the extras
        # itself: here it can only refuse an empty directory, in one line.
        refused = run([lrkit, "report", str(work / "empty")], work)
        refusal = [line for line in refused.stderr.splitlines() if line.strip()]
        if refused.returncode != 2 or len(refusal) != 1 or "Traceback" in refused.stderr:
            problems.append(f"lrkit report EMPTY: exit {refused.returncode}\n{refused.stderr}")
        for args in commands:
            done = run([lrkit, *args], work)
            lines = [line for line in done.stderr.splitlines() if line.strip()]
            shown = "lrkit " + " ".join(args)
            if done.returncode == 0:
                print(f"{shown}: runs with the base install")
                continue
            if (
                done.returncode == 1
                and len(lines) == 1
                and "pip install 'lrkit[" in lines[0]
                and "Traceback" not in done.stderr
            ):
                print(f"{shown}: {lines[0]}")
                continue
            problems.append(
                f"{shown}: exit {done.returncode}, expected 1 and one line naming the extra; "
                f"stderr:\n{done.stderr.strip()[-2000:]}"
            )


def main() -> None:
    dist = Path(sys.argv[1] if len(sys.argv) > 1 else "dist")
    problems: list[str] = []
    wheel = check_archives(dist, problems).resolve()
    check_base_install(wheel, problems)
    if problems:
        for problem in problems:
            print(f"check_dist: {problem}", file=sys.stderr)
        raise SystemExit(1)
    print("check_dist: ok")


if __name__ == "__main__":
    main()
