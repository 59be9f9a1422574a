"""Mutated but plausible systems: the reading commands end in a result or a documented error.

Real boot and configuration trees (the GRUB and BLS fixtures, Debian's and Red Hat's kexec
configuration, grubenv, /proc/cmdline, the kernel release) are mutated by Hypothesis and
every reading command runs on them. Nothing may escape but a documented exit code with one
line on stderr, and no command may take more than a second (Hypothesis' deadline).
FASTREBOOT_FUZZ_EXAMPLES=5000 runs a longer search than the default.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
from contextlib import redirect_stderr, redirect_stdout
from datetime import timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastreboot.cli import main
from tests.unit.sysroots import Sysroot, bzimage, debian_systemd
from tests.unit.test_grub import make_root

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
EXAMPLES = int(os.environ.get("FASTREBOOT_FUZZ_EXAMPLES", "60"))
DOCUMENTED_EXIT_CODES = {0, 1, 2, 3, 4, 5, 6, 7, 8, 10}
READING_COMMANDS = (
    ["plan", "--json"],
    ["check"],
    ["kernels", "--json"],
    ["status", "--json"],
    ["kdump", "status", "--json"],
)
BASES = ("debian-default", "debian-next-entry", "debian-microcode", "fedora-blscfg", "kexec")
#: Files of the target that the reading commands parse; mutations pick among them.
MUTABLE = (
    "/boot/grub/grub.cfg",
    "/boot/grub/grubenv",
    "/etc/default/kexec",
    "/etc/sysconfig/kdump",
    "/etc/fastreboot.toml",
    "/proc/cmdline",
    "/proc/sys/kernel/osrelease",
    "/boot/loader/entries/4098b3f648d74c13b1f04ccfba7798e8-6.7.4-200.fc39.x86_64.conf",
    "/sys/kernel/kexec_loaded",
    "/var/lib/fastreboot/loaded",
)
#: Pieces that make a mutation plausible rather than noise.
TOKENS = (
    "menuentry", "submenu", "linux", "initrd", "set", "default=", "saved_entry=", "next_entry=",
    "KERNEL_IMAGE=", "INITRD=", "APPEND=", "LOAD_KEXEC=true", "KDUMP_COMMANDLINE=",
    "KEXEC_ARGS=", '"', "'", "$", "${", "}", "{", "\\", ";", "\n", "#", "=", "/boot/",
    "vmlinuz-", "crashkernel=256M", "\x00", "é", "..", "/", "-", "1>2", "gnulinux-", "if",
    "fi", "[", "]", "target =", "[reboot]", "0", "1",
)


def _base(name: str, root: Path) -> None:
    if name == "kexec":
        sysroot = debian_systemd(root)
        sysroot.write("/etc/default/kexec", (FIXTURES / "config/debian-bookworm-kexec")
                      .read_text())
        sysroot.write("/etc/sysconfig/kdump", (FIXTURES / "config/rhel9-sysconfig-kdump-x86_64")
                      .read_text())
        return
    made = make_root(root.parent / "fixture", name)
    shutil.copytree(made, root, symlinks=True)
    for kernel in (root / "boot").glob("vmlinuz-*"):
        kernel.write_bytes(bzimage(kernel.name.removeprefix("vmlinuz-")))
    Sysroot(root).running(
        "6.1.0-47-amd64", "BOOT_IMAGE=/boot/vmlinuz-6.1.0-47-amd64 root=/dev/vda1 ro quiet"
    )


text_pieces = st.lists(
    st.one_of(st.sampled_from(TOKENS), st.text(max_size=12)), max_size=12
).map("".join)
long_names = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="/\x00"), min_size=200,
    max_size=400,
)

mutation = st.one_of(
    st.tuples(st.just("insert"), st.sampled_from(MUTABLE), st.floats(0, 1), text_pieces),
    st.tuples(st.just("truncate"), st.sampled_from(MUTABLE), st.floats(0, 1), st.just("")),
    st.tuples(st.just("replace"), st.sampled_from(MUTABLE), st.just(0.0), text_pieces),
    st.tuples(st.just("bytes"), st.sampled_from(MUTABLE), st.floats(0, 1),
              st.binary(max_size=16).map(lambda b: b.decode("latin-1"))),
    st.tuples(st.just("remove"), st.sampled_from(MUTABLE), st.just(0.0), st.just("")),
    st.tuples(st.just("directory"), st.sampled_from(MUTABLE), st.just(0.0), st.just("")),
    st.tuples(st.just("loop"), st.sampled_from(MUTABLE), st.just(0.0), st.just("")),
    st.tuples(st.just("link"), st.sampled_from(MUTABLE), st.just(0.0),
              st.sampled_from(("/", "/proc/self/mem", "../../../..", "/boot", "x" * 300))),
    st.tuples(st.just("release"), st.just("/proc/sys/kernel/osrelease"), st.just(0.0),
              long_names),
)


def _apply(root: Path, kind: str, target: str, where: float, text: str) -> None:
    path = root / target.lstrip("/")
    if path.is_symlink() or path.is_file():
        path.unlink()
        old = b""
    elif path.is_dir():
        shutil.rmtree(path)
        old = b""
    else:
        old = b""
    # Read the original back from the base: the mutation works on real content.
    original = root.parent / "base" / target.lstrip("/")
    if original.is_file() and not original.is_symlink():
        old = original.read_bytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    data = old.decode("utf-8", errors="replace")
    at = int(len(data) * where)
    if kind == "insert":
        path.write_text(data[:at] + text + data[at:])
    elif kind == "truncate":
        path.write_text(data[:at])
    elif kind in ("replace", "release"):
        path.write_text(text + "\n" if kind == "release" else text)
    elif kind == "bytes":
        path.write_bytes(old[:at] + text.encode("latin-1") + old[at + len(text):])
    elif kind == "directory":
        path.mkdir()
    elif kind == "loop":
        path.symlink_to(path.name)
    elif kind == "link":
        path.symlink_to(text)
    # "remove": nothing more


@settings(
    max_examples=EXAMPLES,
    deadline=timedelta(seconds=len(READING_COMMANDS)),  # a second per command
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=EXAMPLES <= 60,  # the default run is the same every time
    database=None,  # nothing written into the working tree
)
@given(base=st.sampled_from(BASES), mutations=st.lists(mutation, min_size=1, max_size=3))
def test_reading_commands_end_in_a_result_or_a_documented_error(
    base: str, mutations: list[tuple[str, str, float, str]]
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        _base(base, work / "base")
        root = work / "root"
        shutil.copytree(work / "base", root, symlinks=True)
        for kind, target, where, text in mutations:
            _apply(root, kind, target, where, text)
        for command in READING_COMMANDS:
            out, err = io.StringIO(), io.StringIO()
            with redirect_stdout(out), redirect_stderr(err):
                code = main([*command, "--root", str(root)], stdin=io.StringIO(""))
            assert code in DOCUMENTED_EXIT_CODES, (command, code, err.getvalue())
            if code not in (0, 5):  # check and reboot --dry-run report failed checks with 5
                lines = err.getvalue().strip().splitlines()
                assert lines and lines[-1].startswith("fastreboot: "), (command, err.getvalue())
                assert "Traceback" not in err.getvalue()
