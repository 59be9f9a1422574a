from __future__ import annotations

import io

from fastreboot.cli import main
from tests.unit.fakes import RecordingEffects


def run_cli(args: list[str], fake: RecordingEffects | None = None, answer: str = "") -> int:
    factory = (lambda root: fake) if fake else None
    return main(args, effects_factory=factory, stdin=io.StringIO(answer))
