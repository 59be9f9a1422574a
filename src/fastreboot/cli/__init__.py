"""Stage 5: the command line (table of commands, the commands, output and prompts)."""

from fastreboot.cli.main import main
from fastreboot.cli.table import build_parser

__all__ = ["build_parser", "main"]
