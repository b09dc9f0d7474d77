"""Run squawk and pgwarden on the same migration files and print where they disagree.

    python bench/compare_squawk.py [PATH ...]      (default: 200 generated files from plan_speed)

For every statement, the two tools' verdicts are mapped onto shared concepts (EQUIVALENT
below). A statement flagged by one tool under a concept and not by the other is printed, grouped
by concept, so each difference is a deliberate choice (pgwarden knows the statement is safe, or
squawk has a style rule pgwarden does not carry) rather than an accident.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

# squawk rule -> pgwarden rule covering the same risk.
EQUIVALENT = {
    "require-concurrent-index-creation": "require-concurrent-index",
    "require-concurrent-index-deletion": "require-concurrent-index-drop",
    "constraint-missing-not-valid": "require-not-valid-foreign-key|require-not-valid-check",
    "adding-foreign-key-constraint": "require-not-valid-foreign-key",
    "adding-not-nullable-field": "set-not-null",
    "adding-required-field": "not-null-column-without-default",
    "changing-column-type": "change-column-type",
    "renaming-column": "rename-column",
    "renaming-table": "rename-table",
    "ban-drop-column": "drop-column",
    "ban-drop-table": "drop-table",
    "ban-drop-database": "drop-database",
    "ban-truncate-cascade": "truncate-table",
    "disallowed-unique-constraint": "require-unique-using-index",
    "adding-serial-primary-key-field": "require-unique-using-index",
    "adding-field-with-default": "add-column-volatile-default",
    "require-lock-timeout": "require-lock-timeout",
    "ban-concurrent-index-creation-in-transaction": "concurrently-in-transaction",
}


def squawk_hits(paths: list[Path]) -> dict[tuple[str, int], set[str]]:
    squawk = shutil.which("squawk") or str(Path(sys.executable).with_name("squawk"))
    out = subprocess.run([squawk, "--reporter", "json", *map(str, paths)], capture_output=True, text=True,
                         check=False)
    hits: dict[tuple[str, int], set[str]] = defaultdict(set)
    for v in json.loads(out.stdout or "[]"):
        hits[(str(Path(v["file"]).resolve()), int(v["line"]) + 1)].add(v["rule_name"])  # squawk lines are 0-based
    return hits


def pgwarden_hits(paths: list[Path]) -> dict[tuple[str, int], set[str]]:
    from pgwarden.records import Migration
    from pgwarden.risk.engine import review

    findings = review([Migration(p.stem, str(p.resolve()), sql=p.read_text(encoding="utf-8")) for p in paths])
    hits: dict[tuple[str, int], set[str]] = defaultdict(set)
    for f in findings:
        hits[(str(f.file), int(f.line or 0))].add(f.rule)
    return hits


def main(argv: list[str]) -> int:
    if argv:
        paths = [p for arg in argv for p in (sorted(Path(arg).rglob("*.sql")) if Path(arg).is_dir() else [Path(arg)])]
        tmp = None
    else:
        from plan_speed import generate

        tmp = tempfile.TemporaryDirectory(prefix="pgwarden-compare-")
        paths = generate(Path(tmp.name), 200)
    squawk = squawk_hits(paths)
    ours = pgwarden_hits(paths)
    only_squawk: Counter[str] = Counter()
    only_ours: Counter[str] = Counter()
    agree: Counter[str] = Counter()
    examples: dict[str, str] = {}
    for key in sorted(set(squawk) | set(ours)):
        theirs, mine = squawk.get(key, set()), ours.get(key, set())
        for rule in theirs:
            equivalent = EQUIVALENT.get(rule)
            label = f"squawk {rule}"
            if equivalent is None:
                only_squawk[f"{label} (no pgwarden counterpart)"] += 1
            elif mine & set(equivalent.split("|")):
                agree[f"{rule} = {equivalent}"] += 1
            else:
                only_squawk[f"{label} -> pgwarden silent"] += 1
                examples.setdefault(f"{label} -> pgwarden silent", _line(key))
        mapped = {r for rule in theirs for r in EQUIVALENT.get(rule, "").split("|") if r}
        for rule in mine - mapped:
            only_ours[f"pgwarden {rule} -> squawk silent"] += 1
            examples.setdefault(f"pgwarden {rule} -> squawk silent", _line(key))
    print(f"{len(paths)} files\n\nagreements:")
    for label, n in agree.most_common():
        print(f"  {n:5d}  {label}")
    print("\nonly squawk:")
    for label, n in only_squawk.most_common():
        print(f"  {n:5d}  {label}" + (f"\n         e.g. {examples[label]}" if label in examples else ""))
    print("\nonly pgwarden:")
    for label, n in only_ours.most_common():
        print(f"  {n:5d}  {label}\n         e.g. {examples[label]}")
    if tmp is not None:
        tmp.cleanup()
    return 0


def _line(key: tuple[str, int]) -> str:
    path, line = key
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return f"{Path(path).name}:{line}: {lines[line - 1][:100] if 0 < line <= len(lines) else ''}"


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
