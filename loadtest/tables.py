"""report.json and report.md for the scenarios that run through the real server (`signalling`,
`classrooms`): the same top-level shape as fanout's ({"commit", "command", "runs"}), a table
with the columns each scenario names, and how to read it."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from .report import _cell, commit

Columns = Sequence[tuple[str, str]]  # (key in the run's JSON, column title)


def table(runs: Sequence[Mapping[str, object]], columns: Columns) -> str:
    lines = ["| " + " | ".join(title for _, title in columns) + " |",
             "|" + "---|" * len(columns)]
    for run in runs:
        lines.append("| " + " | ".join(_cell(run.get(key)) for key, _ in columns) + " |")
    return "\n".join(lines)


def write_report(out: Path, runs: Sequence[Mapping[str, object]], columns: Columns,
                 command: str, explain: Sequence[str], notes: Sequence[str]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    revision = commit()
    (out / "report.json").write_text(json.dumps(
        {"commit": revision, "command": command, "runs": list(runs)},
        indent=2, ensure_ascii=False) + "\n")
    parts = ["# Kelian load test", "", f"Commit `{revision}`; command: `{command}`", "",
             table(runs, columns), ""]
    errors = [f"- {run.get('scenario')} "
              f"N={run.get('participants', run.get('lessons', run.get('receivers')))}: "
              f"{error}" for run in runs for error in run.get("errors", []) or []]  # type: ignore[union-attr]
    if errors:
        parts += ["## Errors (first 20 per run)", "", *errors, ""]
    parts += ["## How to read this", "", *explain, *notes, ""]
    (out / "report.md").write_text("\n".join(parts))
