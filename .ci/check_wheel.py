"""Release check: the built wheel holds every file of every package in the source tree.

    python .ci/check_wheel.py dist/*.whl

Source roots come from setup.cfg's ``package_dir``; every file under them (caches aside)
must be in the wheel at its package path, with the license and the console script.
Exit 1 with the missing paths listed, so a sub-package or data file left out of
setup.cfg fails CI instead of a user's install.
"""

from __future__ import annotations

import configparser
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SKIPPED = {"__pycache__"}


def source_roots(setup_cfg: Path) -> dict[str, Path]:
    """Package name -> source folder, from ``[options] package_dir``."""
    config = configparser.ConfigParser()
    config.read(setup_cfg)
    roots = {}
    for line in config["options"]["package_dir"].strip().splitlines():
        package, folder = (part.strip() for part in line.split("="))
        roots[package] = setup_cfg.parent / folder
    return roots


def expected_files(roots: dict[str, Path]) -> set[str]:
    """Wheel paths of every file under the source roots."""
    expected = set()
    for package, folder in roots.items():
        for path in folder.rglob("*"):
            if path.is_file() and not SKIPPED & set(path.parts) and path.suffix != ".pyc":
                relative = path.relative_to(folder).as_posix()
                expected.add(f"{package.replace('.', '/')}/{relative}")
    return expected


def missing_from_wheel(wheel: Path, root: Path = ROOT) -> list[str]:
    """What the wheel lacks: package files, the license, the ``syops`` console script."""
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = sorted(expected_files(source_roots(root / "setup.cfg")) - names)
    if not any(name.endswith("/LICENSE") for name in names):
        missing.append("*.dist-info/**/LICENSE")
    entry_points = [name for name in names if name.endswith(".dist-info/entry_points.txt")]
    if not entry_points or "syops = syops.cli.main:main" not in \
            zipfile.ZipFile(wheel).read(entry_points[0]).decode():
        missing.append("*.dist-info/entry_points.txt: syops = syops.cli.main:main")
    return missing


def main(argv: list[str]) -> int:
    wheels = [Path(arg) for arg in argv if arg.endswith(".whl")]
    if not wheels:
        print("usage: python .ci/check_wheel.py dist/*.whl", file=sys.stderr)
        return 2
    failed = False
    for wheel in wheels:
        missing = missing_from_wheel(wheel)
        for path in missing:
            print(f"{wheel.name}: missing {path}", file=sys.stderr)
        failed |= bool(missing)
        count = len(zipfile.ZipFile(wheel).namelist())
        print(f"{wheel.name}: {count} files, {'INCOMPLETE' if missing else 'complete'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
