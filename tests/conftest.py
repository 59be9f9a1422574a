"""Test-wide safety: no test may reach a real kexec or reboot of this machine.

Set at import time, before any test or fixture runs, and inherited by every subprocess:
fastreboot's HostEffects refuses to exist while this variable is set. Real reboots
happen only inside QEMU guests (tests/vm), where fastreboot runs in the guest.
"""

import os

os.environ["FASTREBOOT_FORBID_HOST_EFFECTS"] = "1"


def pytest_terminal_summary(terminalreporter) -> None:  # type: ignore[no-untyped-def]
    from tests.vm import summary

    if summary.LINES:
        terminalreporter.section("fastreboot VM scenarios")
        for line in summary.LINES:
            terminalreporter.write_line(line)
