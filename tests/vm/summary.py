"""One line per VM scenario, printed at the end of the pytest run (see tests/conftest.py)."""

from __future__ import annotations

LINES: list[str] = []


def record(scenario: str, text: str) -> None:
    line = f"{scenario}: {text}"
    LINES.append(line)
    print(f"\n[scenario] {line}")
