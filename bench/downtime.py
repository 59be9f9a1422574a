"""Reboot downtime benchmark: fastreboot against the other ways to reboot, in QEMU guests.

``python3 -m bench.downtime`` (or ``bench/run``) boots the harness's "systemd" image
(Debian 12, systemd 252; ``--image trixie``: Debian 13, systemd 257) and, round after
round, alternates the methods
(A B C D E A B C D E ...):

* A ``fastreboot reboot --yes``
* B Debian's kexec-tools: ``LOAD_KEXEC=true`` and a plain ``reboot`` (Debian 12); on
  Debian 13 Bt: ``kexec-load-kernel && reboot``
* C by hand: ``kexec -l /vmlinuz --initrd=/initrd.img --reuse-cmdline && systemctl kexec``
* D cold reboot through SeaBIOS (``systemctl reboot``; QEMU allowed to reset)
* E cold reboot through UEFI (OVMF; ``systemctl reboot``)

Every measurement gets a fresh guest (a new overlay on the same image, cold-booted by
QEMU), so each starts from the same state and ends in the same kernel.  Downtime runs from
the host time the command was typed to the READY line of the next boot; bench/phases.py
splits it.  Results: bench/results/{results.md,phases.png,raw.json}; the guests' full
console logs stay under artifacts/bench/.  See bench/README.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import platform
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench import phases as phase_lib  # noqa: E402
from harness import Guest, GuestImage, build_image, build_project_disk  # noqa: E402
from harness.accel import QEMU, select_accel  # noqa: E402

RESULTS = REPO_ROOT / "bench" / "results"


def _log(msg: str) -> None:
    print(f"[bench] {time.strftime('%H:%M:%S')} {msg}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Method:
    key: str
    title: str
    command: str
    firmware: str = "direct"
    prepare: tuple[str, ...] = ()
    #: What must happen: "kexec" (no QMP RESET), "firmware" (a RESET), "soft" (the same
    #: kernel and boot id, userspace started again), or None: report it.
    expect: str | None = "kexec"
    #: Power off after *prepare* and boot again in a fresh QEMU, then run *after_restart*: a
    #: machine set up long ago. (Under TCG the code the set-up ran would otherwise slow the
    #: next boot down: see README, Caveats.)
    restart_after_prepare: bool = False
    after_restart: tuple[str, ...] = ()


KEXEC_BY_HAND = "kexec {opts} /vmlinuz --initrd=/initrd.img --reuse-cmdline && systemctl kexec"
# fastreboot-preload.service runs after `enable --preload`, in the background: wait for it.
WAIT_FOR_PRELOAD = (
    "for i in $(seq 120); do grep -q '\"origin\": \"preload\"' /run/fastreboot/loaded.json "
    "2>/dev/null && exit 0; sleep 1; done; exit 1"
)
METHODS: dict[str, Method] = {
    m.key: m
    for m in (
        Method("A", "fastreboot reboot --yes", "fastreboot reboot --yes"),
        Method("As", "fastreboot load beforehand, then fastreboot reboot --yes",
               "fastreboot reboot --yes", prepare=("fastreboot load",)),
        Method("P", "fastreboot enable --preload (set up before this boot), then a plain reboot",
               "reboot", prepare=("fastreboot enable --preload", WAIT_FOR_PRELOAD),
               restart_after_prepare=True, after_restart=(WAIT_FOR_PRELOAD,)),
        Method(
            "B", "Debian kexec-tools, LOAD_KEXEC=true + reboot", "reboot",
            prepare=(
                "sed -i 's/^LOAD_KEXEC=.*/LOAD_KEXEC=true/' /etc/default/kexec",
                "grep -qx LOAD_KEXEC=true /etc/default/kexec",
            ),
            expect=None,
        ),
        # Debian 13's own path (kexec-tools 2.0.27+ dropped LOAD_KEXEC and its init
        # scripts; systemd >= 254 kexecs a loaded kernel on reboot, through logind).
        Method("Bt", "Debian 13 kexec-tools: kexec-load-kernel && reboot",
               "kexec-load-kernel && reboot"),
        # systemd >= 254 only (the trixie image): userspace restarts, the kernel stays.
        Method("S", "fastreboot reboot --kind soft --yes (systemctl soft-reboot)",
               "fastreboot reboot --kind soft --yes", expect="soft"),
        Method("C", "kexec -l … --reuse-cmdline && systemctl kexec",
               KEXEC_BY_HAND.format(opts="-l")),
        Method("D", "cold: systemctl reboot, SeaBIOS", "systemctl reboot", expect="firmware"),
        Method("E", "cold: systemctl reboot, UEFI (OVMF)", "systemctl reboot",
               firmware="ovmf", expect="firmware"),
        # D and E with the disk bootloader a real server goes through after its firmware:
        # GRUB (timeout 0) loads /vmlinuz and /initrd.img from the root disk.
        Method("Dg", "cold: systemctl reboot, SeaBIOS, then GRUB from disk", "systemctl reboot",
               firmware="grub-bios", expect="firmware"),
        Method("Eg", "cold: systemctl reboot, UEFI (OVMF), then GRUB from disk",
               "systemctl reboot", firmware="grub-uefi", expect="firmware"),
        # Analysis variants (not in the default set; --methods A,Al,Cs,Ci ...).
        Method("Al", "fastreboot reboot --yes, kexec_load (kexec-tools)",
               "fastreboot reboot --yes --load-method kexec_load"),
        Method("Cs", "kexec -s -l (kexec_file_load) … && systemctl kexec",
               KEXEC_BY_HAND.format(opts="-s -l")),
        Method("Ci", "kexec -l -i (no purgatory checks) … && systemctl kexec",
               KEXEC_BY_HAND.format(opts="-l -i")),
    )
}
#: The default methods per image: B is Debian 12's LOAD_KEXEC, Bt Debian 13's path.
DEFAULT_METHODS = {
    "systemd": ("A", "As", "P", "B", "C", "D", "E", "Dg", "Eg"),
    "trixie": ("A", "As", "P", "Bt", "C", "D", "E", "Dg", "Eg"),
}
#: Untimed, in every fresh guest before anything else: the trixie guest's Python (3.13)
#: cannot use the project disk's 3.11 bytecode and compiles its own into a cache, as
#: Debian's py3compile would have at install time.
GUEST_SETUP = {
    "trixie": ("PYTHONPYCACHEPREFIX=/var/cache/fastreboot/pycache "
               "python3 -m compileall -q /opt/fastreboot/src",),
}


# ------------------------------------------------------------------------ environment


def _cmd(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    except OSError:
        return ""
    return out.stdout.strip()


def _dpkg_version(package: str) -> str:
    return _cmd(["dpkg-query", "-W", "-f=${Version}", package])


def environment(image: GuestImage, accel: str, boot_kernel: str) -> dict[str, Any]:
    meminfo = Path("/proc/meminfo").read_text().split()
    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")), platform.processor())
    from fastreboot import __version__

    commit = _cmd(["git", "-C", str(REPO_ROOT), "rev-parse", "--short=12", "HEAD"])
    dirty = bool(_cmd(["git", "-C", str(REPO_ROOT), "status", "--porcelain", "--", "src"]))
    packages = image.meta.get("packages", {})
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "host": {
            "nproc": os.cpu_count(),
            "memory_gib": round(int(meminfo[meminfo.index("MemTotal:") + 1]) / 1024 / 1024, 1),
            "cpu": cpu,
            "kernel": platform.release(),
        },
        "accel": accel,
        "qemu": _cmd([QEMU, "--version"]).splitlines()[0] if _cmd([QEMU, "--version"]) else "",
        "seabios": _dpkg_version("seabios"),
        "ovmf": _dpkg_version("ovmf"),
        "grub": _dpkg_version("grub-pc-bin"),  # Dg/Eg's boot disk (grub-efi-amd64-bin alike)
        "guest": {
            "image": image.disk.parent.name,
            "debian": {"bookworm": "Debian 12", "trixie": "Debian 13"}.get(
                image.meta.get("suite", ""), image.meta.get("suite", "")),
            "kernels": {"old": image.old_version, "new": image.new_version},
            "boot_kernel": boot_kernel,
            "systemd": packages.get("systemd", ""),
            "kexec_tools": packages.get("kexec-tools", ""),
            "python3": packages.get("python3", ""),
            "kernel_packages": {k: v for k, v in packages.items() if k.startswith("linux-image")},
            "smp": 2,
            "memory_mb": 1024,
        },
        "fastreboot": {"version": __version__,
                       "commit": commit + ("+dirty(src)" if dirty else "")},
        "host_python": sys.version.split()[0],
    }


def other_guests() -> int:
    """QEMU processes not started by this process (they would distort every timing)."""
    mine = set(_cmd(["pgrep", "-P", str(os.getpid())]).split())
    return len([p for p in _cmd(["pgrep", "-f", "qemu-system-x86_64"]).split() if p not in mine])


def wait_until_idle(max_wait: float, quiet: float = 0.0) -> None:
    """Wait until no other QEMU guest runs (and none did for *quiet* seconds: test suites
    start guests one after the other)."""
    deadline = time.monotonic() + max_wait
    announced = False
    idle_since: float | None = None
    while True:
        now = time.monotonic()
        if other_guests():
            idle_since = None
            if now > deadline:
                raise SystemExit(
                    f"other QEMU guests are still running after {max_wait:.0f}s; a benchmark "
                    "next to them would measure contention, not reboots (use --max-wait)"
                )
            if not announced:
                _log("other QEMU guests are running: waiting until they are gone ...")
                announced = True
        else:
            idle_since = now if idle_since is None else idle_since
            if now - idle_since >= quiet:
                return
        time.sleep(5)


# --------------------------------------------------------------------- guest kernels


def bench_image(image: GuestImage, kernel: str, workdir: Path) -> GuestImage:
    """The image, booted by QEMU with the *kernel* ("new"/"old") version's kernel+initrd."""
    if kernel == "old":
        return image
    dest = workdir / "kernels"
    dest.mkdir(parents=True, exist_ok=True)
    version = image.new_version
    paths = {}
    for name in (f"vmlinuz-{version}", f"initrd.img-{version}"):
        out = dest / name
        if not out.exists():
            subprocess.run(
                ["debugfs", "-R", f"dump /boot/{name} {out}", str(image.disk)],
                check=True, capture_output=True, timeout=120,
            )
        if not out.is_file() or out.stat().st_size == 0:
            raise SystemExit(f"could not extract /boot/{name} from {image.disk}")
        paths[name] = out
    return dataclasses.replace(
        image, boot_kernel=paths[f"vmlinuz-{version}"], boot_initrd=paths[f"initrd.img-{version}"]
    )


# ------------------------------------------------------------------------ measurements

#: Which clock the guest kernel uses (under TCG a TSC marked unstable means HPET reads,
#: i.e. MMIO exits, on every clock read).
CLOCK_INFO = (
    "cat /sys/devices/system/clocksource/clocksource0/current_clocksource; "
    "dmesg | grep -iE 'tsc|clocksource' | tail -4"
)


def measure(
    method: Method, image: GuestImage, project_disk: Path, workdir: Path, round_no: int,
    *, settle: float, loglevel: int,
) -> dict[str, Any]:
    record: dict[str, Any] = {"method": method.key, "round": round_no, "command": method.command,
                              "workdir": str(workdir)}
    guest = Guest(image, workdir, name=f"{method.key}{round_no}", project_disk=project_disk,
                  firmware=method.firmware, allow_reset=True)
    try:
        guest.start()
        assert guest.started_at is not None
        first = guest.wait_ready(timeout=400)
        record["cold_boot"] = {
            "kernel": first.kernel,
            "ready_after_qemu_start": round(first.host_time - guest.started_at, 3),
            "uptime_at_ready": first.uptime,
            "firmware_and_load": round(first.host_time - first.uptime - guest.started_at, 3),
        }
        record["cold_boot"]["clock"] = guest.run(CLOCK_INFO, check=False).output.splitlines()
        for command in (*GUEST_SETUP.get(image.variant, ()), *method.prepare):
            guest.run(command)
        if method.restart_after_prepare:
            guest.send("systemctl poweroff")
            guest.wait_exit(timeout=180)
            guest.start()
            first = guest.wait_ready(timeout=400)
            record["restarted_boot_uptime_at_ready"] = first.uptime
            for command in method.after_restart:
                guest.run(command)
        if loglevel:
            # Shutdown only: show systemd-shutdown's and the kernel's last lines ("kexec_core:
            # Starting new kernel", "reboot: machine restart"); the next boot has loglevel=4.
            guest.run(f"dmesg -n {loglevel}")
        guest.run("sync")
        time.sleep(settle)
        record["other_guests_at_send"] = other_guests()
        record["loadavg_at_send"] = os.getloadavg()[0]
        resets_before = len(guest.resets)
        sent = guest.send(method.command)
        after = guest.wait_reboot(timeout=420)
        record["other_guests_at_ready"] = other_guests()
        reset_times = [e.host_time for e in guest.resets[resets_before:]]
        record["qmp_events"] = [
            {"name": e.name, "data": e.data, "t": round(e.host_time - sent, 3)}
            for e in guest.resets[resets_before:]
        ]
        result = phase_lib.compute(list(guest.console_lines), sent, reset_times,
                                   after.host_time, after.uptime)
        record["phases"] = result.to_json()
        record["kernel_after"] = after.kernel
        check = guest.run(
            f"grep -c 'stopped boot_id={first.boot_id}' /var/lib/victim/records; "
            "od -An -tx1 -j 528 -N1 /sys/kernel/boot_params/data",
            check=False,
        ).output.split()
        record["clock_after"] = guest.run(CLOCK_INFO, check=False).output.splitlines()
        record["victim_stopped_cleanly"] = bool(check) and check[0].isdigit() and int(check[0]) > 0
        record["type_of_loader"] = check[1] if len(check) > 1 else None
        record["new_boot_id"] = after.boot_id != first.boot_id
        problems = []
        if record["new_boot_id"] == (method.expect == "soft"):
            problems.append("new boot id" if record["new_boot_id"] else "same boot id")
        if not record["victim_stopped_cleanly"]:
            problems.append("victim service was not stopped cleanly")
        if method.expect and result.via != method.expect:
            problems.append(f"expected a {method.expect} reboot, saw {result.via}")
        if result.handover < -0.05:
            problems.append(f"negative hand-over ({result.handover:.2f} s): markers wrong")
        record["problems"] = problems
        _log(
            f"{method.key} round {round_no}: {result.via}, total {result.total:.1f} s "
            f"(prepare {result.prepare:.1f}, stop {result.stop:.1f}, hand-over "
            f"{result.handover:.1f}, boot {result.boot:.1f})"
            + (f" PROBLEMS: {problems}" if problems else "")
        )
    except Exception as error:  # a failed measurement is recorded, not fatal
        record["error"] = f"{type(error).__name__}: {error}"[:2000]
        _log(f"{method.key} round {round_no} FAILED: {record['error'][:300]}")
    finally:
        guest.stop()
    return record


# ------------------------------------------------------------ in-guest fastreboot timings


TIME_PREFIX = "TIMEFORMAT='T %R'; "
DROP = "sync; echo 3 > /proc/sys/vm/drop_caches; "
GUEST_TIMINGS: tuple[tuple[str, str, str, int], ...] = (
    # (label, preparation (not timed), timed command, repetitions)
    ("python3 -c pass", "", "python3 -c pass", 5),
    ("fastreboot --version", "", "fastreboot --version", 5),
    ("fastreboot plan", "", "fastreboot plan", 5),
    ("fastreboot load", "fastreboot unload", "fastreboot load", 5),
    ("fastreboot load, kexec_load", "fastreboot unload",
     "fastreboot load --load-method kexec_load", 3),
    ("fastreboot load, already loaded", "fastreboot load", "fastreboot load", 3),
    ("fastreboot plan, cold cache", DROP, "fastreboot plan", 3),
    ("fastreboot load, cold cache", f"fastreboot unload; {DROP}", "fastreboot load", 3),
    ("kexec -s -l (kexec_file_load)", "kexec -u",
     "kexec -s -l /vmlinuz --initrd=/initrd.img --reuse-cmdline", 3),
    ("kexec -l (kexec_load)", "kexec -u",
     "kexec -l /vmlinuz --initrd=/initrd.img --reuse-cmdline", 3),
    ("kexec -l, cold cache", f"kexec -u; {DROP}",
     "kexec -l /vmlinuz --initrd=/initrd.img --reuse-cmdline", 3),
    ("kexec -l -i (no purgatory checks)", "kexec -u",
     "kexec -l -i /vmlinuz --initrd=/initrd.img --reuse-cmdline", 3),
)
#: The same loads again after `rmmod sha256_ssse3`: the kernel's sha256 for
#: kexec_file_load's digests then is the generic C one, as in kexec-tools and purgatory.
GENERIC_SHA_TIMINGS: tuple[tuple[str, str, str, int], ...] = (
    ("kexec -s -l, kernel sha256 generic", "kexec -u",
     "kexec -s -l /vmlinuz --initrd=/initrd.img --reuse-cmdline", 3),
    ("fastreboot load, kernel sha256 generic", "fastreboot unload", "fastreboot load", 3),
)
#: Facts that explain the timings: is the bytecode used, how syscalls and sha256 are done.
GUEST_DIAG = (
    "python3 -c 'import sys, importlib.util; print(sys.version.split()[0], "
    "sys.implementation.cache_tag, int.from_bytes(importlib.util.MAGIC_NUMBER[:2], \"little\"))'; "
    "echo pyc-used: $(PYTHONPATH=/opt/fastreboot/src python3 -v -c 'import fastreboot.cli' 2>&1 "
    "| grep -c 'code object from .*fastreboot.*pyc'); "
    "echo meltdown: $(cat /sys/devices/system/cpu/vulnerabilities/meltdown); "
    "echo cpu-flags: $(grep -m1 -o -w -E 'pcid|invpcid|avx2|sha_ni|bmi2' /proc/cpuinfo | sort -u); "
    "echo sha256-drivers: $(awk '/^name/ {n=$3} /^driver/ && n==\"sha256\" {print $3}' "
    "/proc/crypto); "
    "echo clocksource: $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)"
)
CONSOLE_LINE = "bench-console-cost " + "x" * 60
CONSOLE_LINES = 100


def _timed(guest: Guest, prep: str, command: str) -> float:
    prep = prep.strip().rstrip(";")
    script = f"{prep + '; ' if prep else ''}{TIME_PREFIX}{{ time {command} >/dev/null 2>&1; }} 2>&1"
    out = guest.run(script, timeout=300, check=False).output
    m = re.search(r"^T ([0-9.]+)$", out, re.MULTILINE)
    if not m:
        raise RuntimeError(f"no timing in {out!r}")
    return float(m.group(1))


def guest_timings(image: GuestImage, disk: Path, workdir: Path, name: str) -> dict[str, Any]:
    """fastreboot's own work inside a TCG guest (start-up, plan, load), several runs each."""
    result: dict[str, Any] = {"runs": {}}
    guest = Guest(image, workdir, name=name, project_disk=disk, allow_reset=True)
    try:
        guest.start()
        guest.wait_ready(timeout=400)
        for command in GUEST_SETUP.get(image.variant, ()):
            guest.run(command, timeout=300)
        guest.run("sync")
        time.sleep(3)
        result["pyc_files"] = int(guest.run(
            "find /opt/fastreboot/src -name '*.pyc' | wc -l").output.strip() or 0)
        result["diag"] = guest.run(GUEST_DIAG, check=False).output.splitlines()
        for label, prep, command, reps in GUEST_TIMINGS:
            result["runs"][label] = [_timed(guest, prep, command) for _ in range(reps)]
            _log(f"guest timings ({name}): {label}: {result['runs'][label]}")
        guest.run("kexec -u; fastreboot unload", check=False)
        rmmod = guest.run("rmmod sha256_ssse3 && awk '/^name/ {n=$3} /^driver/ && "
                          "n==\"sha256\" {print $3}' /proc/crypto", check=False)
        result["rmmod_sha256_ssse3"] = rmmod.output.splitlines()
        if rmmod.ok:
            for label, prep, command, reps in GENERIC_SHA_TIMINGS:
                result["runs"][label] = [_timed(guest, prep, command) for _ in range(reps)]
                _log(f"guest timings ({name}): {label}: {result['runs'][label]}")
            guest.run("kexec -u; fastreboot unload; modprobe sha256_ssse3", check=False)
        imports = guest.run(
            "PYTHONPATH=/opt/fastreboot/src python3 -X importtime -m fastreboot plan "
            "2>&1 >/dev/null | sort -t'|' -k2 -n | tail -12", check=False).output
        result["importtime_top"] = imports.splitlines()
        # What a console line costs: the same kernel messages with the console at level 7
        # (shown on ttyS0) and at level 4 (not shown).
        loop = (f"for i in $(seq {CONSOLE_LINES}); do echo \"<6>{CONSOLE_LINE} $i\" "
                "> /dev/kmsg; done")
        shown = _timed(guest, "dmesg -n 7", f"bash -c '{loop}'")
        hidden = _timed(guest, "dmesg -n 4", f"bash -c '{loop}'")
        result["console_line_cost_ms"] = round((shown - hidden) / CONSOLE_LINES * 1000, 2)
        result["console_cost_raw"] = {"shown_s": shown, "hidden_s": hidden,
                                      "lines": CONSOLE_LINES, "chars": len(CONSOLE_LINE) + 10}
    except Exception as error:
        result["error"] = f"{type(error).__name__}: {error}"[:2000]
        _log(f"guest timings ({name}) FAILED: {result['error'][:300]}")
    finally:
        guest.stop()
    return result


# ------------------------------------------------------------------------------ main


def _save(raw: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / "raw.json.tmp"
    tmp.write_text(json.dumps(raw, indent=1, sort_keys=False) + "\n")
    tmp.replace(out / "raw.json")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m bench.downtime", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="rounds (each runs every method)")
    parser.add_argument("--image", choices=tuple(DEFAULT_METHODS), default="systemd",
                        help="guest image: Debian 12 (systemd 252) or Debian 13 (systemd 257)")
    parser.add_argument("--methods", default=None,
                        help=f"comma-separated, of {','.join(METHODS)} (default: "
                             + "; ".join(f"{k}: {','.join(v)}" for k, v in DEFAULT_METHODS.items())
                             + ")")
    parser.add_argument("--out", type=Path, default=None,
                        help="results directory (default bench/results, for trixie "
                             "bench/results/trixie)")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="guest work dirs and console logs (default artifacts/bench/DATE)")
    parser.add_argument("--kernel", choices=("new", "old"), default="new",
                        help="kernel QEMU boots (and every reboot comes back to)")
    parser.add_argument("--settle", type=float, default=3.0,
                        help="seconds of quiet before the command is sent")
    parser.add_argument("--shutdown-loglevel", type=int, default=7,
                        help="console loglevel set just before the command (0: leave at 4)")
    parser.add_argument("--guest-timings", choices=("both", "bytecode", "none"), default="both",
                        help="time fastreboot plan/load inside guests: with and without "
                             "bytecode on the project disk, with only, or not at all")
    parser.add_argument("--no-host-plan", action="store_true",
                        help="skip timing fastreboot plan on the host")
    parser.add_argument("--max-wait", type=float, default=3600,
                        help="how long to wait for other QEMU guests to go away")
    parser.add_argument("--report-only", action="store_true",
                        help="only rewrite results.md and phases.png from OUT/raw.json")
    args = parser.parse_args(argv)

    from bench import report

    if args.out is None:
        args.out = RESULTS if args.image == "systemd" else RESULTS / args.image
    if args.methods is None:
        args.methods = ",".join(DEFAULT_METHODS[args.image])
    if args.report_only:
        report.write(json.loads((args.out / "raw.json").read_text()), args.out)
        return 0
    methods = [METHODS[k.strip()] for k in args.methods.split(",") if k.strip()]
    stamp = time.strftime("%Y%m%d-%H%M%S")
    workdir = args.workdir or REPO_ROOT / "artifacts" / "bench" / stamp
    workdir.mkdir(parents=True, exist_ok=True)

    t_start = time.monotonic()
    image = build_image(args.image)
    booted = bench_image(image, args.kernel, workdir)
    accel = select_accel(booted.boot_kernel)
    raw: dict[str, Any] = {
        "environment": environment(image, accel, booted.boot_kernel.name),
        "settings": {"rounds": args.rounds, "methods": [m.key for m in methods],
                     "kernel": args.kernel, "settle_s": args.settle,
                     "shutdown_loglevel": args.shutdown_loglevel, "workdir": str(workdir)},
        "methods": {m.key: {"title": m.title, "command": m.command, "firmware": m.firmware,
                            "prepare": list(m.prepare), "expect": m.expect} for m in methods},
        "measurements": [],
    }
    pyc_disk = build_project_disk(workdir / "project.img", bytecode=True)
    wait_until_idle(args.max_wait, quiet=30)
    if not args.no_host_plan:
        _log("timing fastreboot plan on the host (hyperfine)")
        from bench import plan_host

        raw["host_plan"] = plan_host.measure()
        _save(raw, args.out)
    if args.guest_timings != "none":
        disks = [("bytecode", pyc_disk)]
        if args.guest_timings == "both":
            disks.append(("no bytecode", build_project_disk(workdir / "project-nopyc.img",
                                                            bytecode=False)))
        raw["guest_timings"] = {}
        for label, disk in disks:
            wait_until_idle(args.max_wait)
            raw["guest_timings"][label] = guest_timings(
                booted, disk, workdir / f"timings-{label.replace(' ', '-')}",
                f"timings-{label[:2]}")
            _save(raw, args.out)
    for round_no in range(1, args.rounds + 1):
        for method in methods:
            wait_until_idle(args.max_wait)
            _log(f"round {round_no}/{args.rounds}: {method.key} ({method.title})")
            raw["measurements"].append(measure(
                method, booted, pyc_disk, workdir / f"r{round_no}-{method.key}", round_no,
                settle=args.settle, loglevel=args.shutdown_loglevel,
            ))
            _save(raw, args.out)
    raw["bench_seconds"] = round(time.monotonic() - t_start, 1)
    _save(raw, args.out)
    report.write(raw, args.out)
    _log(f"done in {raw['bench_seconds'] / 60:.1f} min: {args.out / 'results.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
