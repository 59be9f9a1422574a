"""--debug output on stderr: the commands fastreboot runs (`+ argv`).

A flag and a print instead of the logging module: importing logging (and the threading,
traceback and string modules it pulls in) cost more start-up time than this needs.
"""

from __future__ import annotations

import sys

enabled = False  # set by the CLI from --debug


def debug(message: str) -> None:
    if enabled:
        print(message, file=sys.stderr)
