"""Where a rule set's files are: its root (the folder with the project file), its rule files, its test files."""

from __future__ import annotations

from pathlib import Path

from relance.engine.language.forms import (
    PROJECT_FILES,
)

RULE_SUFFIXES = (".rules", ".yaml", ".yml")


TEST_SUFFIXES = (".test.yaml", ".test.yml")


def is_test_file(path: Path) -> bool:
    return path.name.endswith(TEST_SUFFIXES)


def rule_files(root: Path) -> list[Path]:
    """The rule files of a folder, sorted; hidden folders, tests and the project file skipped."""
    found = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if any(part.startswith(".") for part in rel.parts) or not path.is_file():
            continue
        if path.suffix in RULE_SUFFIXES and not is_test_file(path) and path.name not in PROJECT_FILES:
            found.append(path)
    return found


def find_project_file(folder: Path) -> Path | None:
    for name in PROJECT_FILES:
        if (folder / name).is_file():
            return folder / name
    return None


def enclosing_rule_set(folder: Path) -> Path:
    """The folder itself if it has a project file, else the nearest parent that has one (a
    sub-folder of a rule set is checked with the whole set), else the folder."""
    for candidate in (folder, *folder.resolve().parents):
        if find_project_file(candidate) is not None:
            return candidate
    return folder
