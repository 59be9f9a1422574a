"""A recording Effects: what fastreboot would do to a machine, done to a fake sysroot."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from fastreboot.act.effects import Severity
from fastreboot.errors import CommandError, KexecError, KexecRefused, KexecUnsupported
from fastreboot.sysroot import SysRoot


class RecordingEffects:
    """Records every call; simulates the kernel's view in the fake /sys so checks see it."""

    def __init__(
        self,
        root: Path,
        *,
        commands: Sequence[str] = ("systemctl", "telinit", "grub-editenv", "update-rc.d"),
        fail_load: str | None = None,
        fail_commands: Sequence[str] = (),
        stdout: Mapping[str, str] | None = None,
        dmesg: str = "",
    ) -> None:
        self.root = SysRoot(root)
        self.calls: list[tuple[object, ...]] = []
        self.events: list[tuple[Severity, str]] = []  # lines for the system log
        self.commands = set(commands)
        self.fail_load = fail_load  # None, "unsupported", "rejected" (policy) or "failed"
        self.fail_commands = set(fail_commands)
        self.stdout = dict(stdout or {})  # "systemctl list-jobs" -> what it prints
        self.dmesg = dmesg  # what `makedumpfile --dump-dmesg` writes

    def _flag(self, crash: bool) -> Path:
        return self.root.lexical(
            "/sys/kernel/kexec_crash_loaded" if crash else "/sys/kernel/kexec_loaded"
        )

    def kexec_file_load(
        self, kernel: str, initrds: Sequence[str], cmdline: str, *, crash: bool
    ) -> None:
        self.calls.append(("kexec_file_load", kernel, tuple(initrds), cmdline, crash))
        if self.fail_load == "unsupported":
            raise KexecUnsupported("kexec_file_load: the running kernel has no support for it")
        if self.fail_load == "rejected":
            raise KexecRefused("kexec_file_load failed: refused by kernel lockdown (integrity)")
        if self.fail_load == "failed":
            raise KexecError(
                "kexec_file_load failed: the running kernel does not accept this "
                "image format (not a bootable kernel?)"
            )
        self._flag(crash).write_text("1\n")

    def kexec_unload(self, *, crash: bool) -> None:
        self.calls.append(("kexec_unload", crash))
        self._flag(crash).write_text("0\n")

    def which(self, command: str) -> str | None:
        return f"/usr/sbin/{command}" if command in self.commands else None

    def run(
        self, argv: Sequence[str], *, env: Mapping[str, str] | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        self.calls.append(("run", tuple(argv), dict(env or {})))
        if argv[0] == "kexec" and "-u" not in argv:
            self._flag("-p" in argv).write_text("1\n")
        code = 1 if argv[0] in self.fail_commands else 0
        if argv[0] == "makedumpfile" and not code:
            # The output file, as makedumpfile writes it: the log as text, or a dump.
            written = self.root.lexical(argv[-1])
            if "--dump-dmesg" in argv:
                written.write_text(self.dmesg)
            else:
                written.write_bytes(b"\0" * 4096)
        if code and check:
            raise CommandError(f"{' '.join(argv)} failed with exit code 1")
        out = self.stdout.get(" ".join(argv[:2]), "")
        return subprocess.CompletedProcess(list(argv), code, out, "")

    def sync(self) -> None:
        self.calls.append(("sync",))

    def jump(self) -> None:
        self.calls.append(("jump",))

    def write_file(self, path: str, text: str, *, mode: int = 0o644) -> None:
        self.calls.append(("write_file", path))
        target = self.root.lexical(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)

    def remove_file(self, path: str) -> None:
        self.calls.append(("remove_file", path))
        self.root.lexical(path).unlink(missing_ok=True)

    def prefetch(self, paths: Sequence[str]) -> None:
        self.calls.append(("prefetch", tuple(paths)))

    def log_event(self, message: str, *, severity: Severity) -> None:
        # Kept apart from the calls: a log line changes nothing on the machine.
        self.events.append((severity, message))

    def make_dir(self, path: str) -> None:
        self.calls.append(("make_dir", path))
        self.root.lexical(path).mkdir(parents=True, exist_ok=True)

    def publish_dir(self, temporary: str, final: str) -> None:
        self.calls.append(("publish_dir", temporary, final))
        self.root.lexical(temporary).rename(self.root.lexical(final))

    def trigger_crash(self) -> None:
        self.calls.append(("trigger_crash",))

    def names(self) -> list[str]:
        """The calls as short strings, e.g. ["kexec_file_load", "run systemctl kexec"]."""
        out = []
        for call in self.calls:
            if call[0] == "run":
                argv = call[1]
                assert isinstance(argv, tuple)
                out.append("run " + " ".join(str(a) for a in argv))
            else:
                out.append(str(call[0]))
        return out
