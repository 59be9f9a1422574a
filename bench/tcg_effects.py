"""Two TCG effects that distort the downtime numbers, measured (``python3 -m bench.tcg_effects``).

1. Translation cache across a reboot: QEMU's ``info jit`` after the first boot and after the
   boot that follows a reboot (firmware and kexec).  Invalidated translation blocks
   (writes into pages that still hold code translated in the previous boot) are the
   suspected reason why every boot after a reboot is slower than QEMU's first boot.
2. Emulated SIMD: sha256 of the kernel + initrd with coreutils (plain C) and OpenSSL
   (AVX2 assembly), and ``kexec -s -l`` / ``kexec -l`` / ``fastreboot load``, in a guest
   as it is and in one booted with ``clearcpuid=avx2,avx,ssse3`` (the kernel then uses
   sha256-generic for kexec_file_load's digests).

Writes bench/results/tcg_effects.json.  One guest at a time; waits for other guests.
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path
from typing import Any

from bench.downtime import REPO_ROOT, RESULTS, _timed, bench_image, wait_until_idle
from harness import Guest, build_image, build_project_disk

FILES = "/vmlinuz /initrd.img"
JIT_KEYS = ("TB count", "TB flush count", "TB invalidate count", "gen code size")


def _jit(guest: Guest) -> dict[str, str]:
    text = guest.hmp("info jit")
    out = {}
    for key in JIT_KEYS:
        m = re.search(rf"^{re.escape(key)}\s+(\S+)", text, re.MULTILINE)
        if m:
            out[key] = m.group(1)
    return out


def translation_cache(image: Any, disk: Path, work: Path) -> dict[str, Any]:
    commands = {
        "firmware": "systemctl reboot",
        "kexec": "kexec -l /vmlinuz --initrd=/initrd.img --reuse-cmdline && systemctl kexec",
    }
    result: dict[str, Any] = {}
    for name, command in commands.items():
        wait_until_idle(3600, quiet=30)
        guest = Guest(image, work / f"jit-{name}", name=f"jit-{name}", project_disk=disk,
                      allow_reset=True)
        try:
            guest.start()
            first = guest.wait_ready(timeout=400)
            jit_first = _jit(guest)
            guest.run("sync")
            time.sleep(3)
            sent = guest.send(command)
            second = guest.wait_reboot(timeout=400)
            result[name] = {
                "first_boot_uptime": first.uptime,
                "next_boot_uptime": second.uptime,
                "downtime": round(second.host_time - sent, 2),
                "jit_after_first_boot": jit_first,
                "jit_after_next_boot": _jit(guest),
            }
        finally:
            guest.stop()
        print(f"[tcg_effects] {name}: {result[name]}", file=sys.stderr, flush=True)
    return result


def simd(image: Any, disk: Path, work: Path) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, append in (("as is", ""), ("clearcpuid=avx2,avx,ssse3",
                                         "clearcpuid=avx2,avx,ssse3")):
        wait_until_idle(3600, quiet=30)
        guest = Guest(image, work / f"simd-{len(result)}", name=f"simd-{len(result)}",
                      project_disk=disk, append=append)
        try:
            guest.start()
            guest.wait_ready(timeout=400)
            runs: dict[str, Any] = {"kernel sha256 driver": guest.run(
                "awk '/^name/ {n=$3} /^driver/ && n==\"sha256\" {print $3; exit}' /proc/crypto",
                check=False).output.strip()}
            guest.run(f"cat {FILES} > /dev/null")  # warm cache: time the hashing, not the disk
            hashing = ("import hashlib,sys; "
                       "[hashlib.sha256(open(f,'rb').read()) for f in sys.argv[1:]]")
            cases = (
                ("sha256sum kernel+initrd (coreutils, plain C)", "", f"sha256sum {FILES}"),
                ("python hashlib kernel+initrd (OpenSSL, SIMD asm)", "",
                 f"python3 -c \"{hashing}\" {FILES}"),
                ("kexec -s -l (kexec_file_load)", "kexec -u",
                 "kexec -s -l /vmlinuz --initrd=/initrd.img --reuse-cmdline"),
                ("kexec -l (kexec_load)", "kexec -u",
                 "kexec -l /vmlinuz --initrd=/initrd.img --reuse-cmdline"),
                ("fastreboot load", "kexec -u", "fastreboot load"),
            )
            for label, prep, command in cases:
                runs[label] = [_timed(guest, prep, command) for _ in range(3)]
            result[name] = runs
        finally:
            guest.stop()
        print(f"[tcg_effects] {name}: {result[name]}", file=sys.stderr, flush=True)
    return result


def main() -> int:
    work = REPO_ROOT / "artifacts" / "bench" / f"tcg-effects-{time.strftime('%Y%m%d-%H%M%S')}"
    work.mkdir(parents=True, exist_ok=True)
    image = bench_image(build_image("systemd"), "new", work)
    disk = build_project_disk(work / "project.img")
    data = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "translation_cache": translation_cache(image, disk, work),
            "simd": simd(image, disk, work)}
    out = RESULTS / "tcg_effects.json"
    out.write_text(json.dumps(data, indent=1) + "\n")
    print(f"[tcg_effects] wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
