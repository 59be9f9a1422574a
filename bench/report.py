"""Turn bench/results/raw.json into results.md (tables) and phases.png (bar chart)."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from bench.phases import PHASE_TITLES, PHASES

SHORT = {"prepare": "prepare", "stop": "service stop", "handover": "hand-over",
         "boot": "kernel + userspace", "total": "**downtime**"}
# fastreboot's own ways to reboot (A: as it comes, As: loaded beforehand, P: preloaded from
# boot on, then a plain reboot); each is set against every other method.
FASTREBOOT_METHODS = ("A", "As", "P", "S")
COLORS = {"prepare": "#f2a541", "stop": "#e4572e", "handover": "#7d5ba6", "boot": "#4c86a8"}


def _ok(m: dict[str, Any]) -> bool:
    return "error" not in m and not m.get("problems")


def _values(ms: list[dict[str, Any]], key: str) -> list[float]:
    return [m["phases"][key] for m in ms if m["phases"].get(key) is not None]


def _cell(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


def _by_method(raw: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {k: [] for k in raw["methods"]}
    for m in raw["measurements"]:
        if _ok(m):
            out.setdefault(m["method"], []).append(m)
    return out


def _derived(ms: list[dict[str, Any]], key: str) -> list[float]:
    """to_kernel: command -> new kernel starts (no boot phase); services_down: first shutdown
    line -> READY (the command's own work, while everything still runs, left out)."""
    if key == "to_kernel":
        return [m["phases"]["total"] - m["phases"]["boot"] for m in ms]
    return [m["phases"]["total"] - m["phases"]["prepare"] for m in ms]


def _median_total(ms: list[dict[str, Any]]) -> float | None:
    totals = _values(ms, "total")
    return statistics.median(totals) if totals else None


def _timing_cell(runs: list[float] | None) -> str:
    if not runs:
        return "-"
    rest = runs[1:] or runs
    return f"{runs[0]:.2f} / {statistics.median(rest):.2f} ({min(rest):.2f}-{max(rest):.2f})"


def markdown(raw: dict[str, Any]) -> str:
    env = raw["environment"]
    methods = raw["methods"]
    by = _by_method(raw)
    a_total = _median_total(by.get("A", []))
    rounds = raw["settings"]["rounds"]
    lines = [
        "# fastreboot downtime benchmark",
        "",
        f"- date: {env['date']}; run took {raw.get('bench_seconds', 0) / 60:.0f} min",
        f"- host: {env['host']['nproc']} CPUs ({env['host']['cpu']}), "
        f"{env['host']['memory_gib']} GiB, Linux {env['host']['kernel']}",
        f"- QEMU: {env['qemu']}, accelerator **{env['accel']}** (2 vCPUs, 1 GiB, q35), "
        f"SeaBIOS {env['seabios']}, OVMF {env['ovmf']}"
        + (f", GRUB {env['grub']}" if env.get("grub") else ""),
        f"- guest: {env['guest'].get('debian', 'Debian 12')} image `{env['guest']['image']}`, "
        f"systemd {env['guest']['systemd']}, "
        f"kexec-tools {env['guest']['kexec_tools']}, python3 {env['guest']['python3']}; kernels "
        f"{env['guest']['kernels']['old']} (old) / {env['guest']['kernels']['new']} (new); "
        f"QEMU boots `{env['guest']['boot_kernel']}` and every method comes back to it"
        + (" (Dg, Eg: GRUB loads it from the disk as `/vmlinuz`)"
           if {"Dg", "Eg"} & set(raw["settings"]["methods"]) else ""),
        f"- fastreboot {env['fastreboot']['version']}, commit {env['fastreboot']['commit']}",
        f"- {rounds} rounds, methods alternated "
        f"({' '.join(raw['settings']['methods'])} {' '.join(raw['settings']['methods'])} …), "
        "a fresh cold-booted guest for every measurement; console loglevel "
        f"{raw['settings']['shutdown_loglevel']} during the shutdown only",
        "",
        "## Downtime per phase (seconds: median (min-max))",
        "",
        "Downtime: from the host time the command was typed to the FASTREBOOT-READY line of "
        "the next boot (a unit ordered after multi-user.target). Phases: see bench/README.md.",
        "",
        "| method | n | via | " + " | ".join(SHORT[p] for p in (*PHASES, "total"))
        + " | X/A (median) |",
        "|---|---|---|" + "---|" * (len(PHASES) + 1) + "---|",
    ]
    for key, info in methods.items():
        ms = by.get(key, [])
        vias = sorted({m["phases"]["via"] for m in ms})
        total = _median_total(ms)
        ratio = f"{total / a_total:.2f}" if total and a_total else "-"
        lines.append(
            f"| **{key}** {info['title']} | {len(ms)} | {'/'.join(vias) or '-'} | "
            + " | ".join(_cell(_values(ms, p)) for p in PHASES)
            + f" | **{_cell(_values(ms, 'total'))}** | {ratio} |"
        )
    lines += [
        "",
        "Two views that leave one phase out (medians; ratio X/A):",
        "*to new kernel* = command -> the new kernel starts (prepare + stop + hand-over: "
        "without the boot phase, which is the same kernel and userspace for every method "
        "and under TCG varies with QEMU's translation buffer, see bench/README.md); *services "
        "down* = first shutdown line -> READY (without the command's own work, during which "
        "every service still runs).",
        "",
        "| method | to new kernel | X/A | services down | X/A |",
        "|---|---|---|---|---|",
    ]
    a_kernel = [*_derived(by.get("A", []), "to_kernel")]
    a_down = [*_derived(by.get("A", []), "services_down")]
    for key in methods:
        ms = by.get(key, [])
        if not ms:
            continue
        to_kernel, down = _derived(ms, "to_kernel"), _derived(ms, "services_down")
        r1 = (f"{statistics.median(to_kernel) / statistics.median(a_kernel):.2f}"
              if a_kernel else "-")
        r2 = f"{statistics.median(down) / statistics.median(a_down):.2f}" if a_down else "-"
        lines.append(f"| {key} | {_cell(to_kernel)} | {r1} | {_cell(down)} | {r2} |")
    lines += ["", "## fastreboot against the others (ratio of median downtimes)", ""]
    lines += ["| ratio | value | target |", "|---|---|---|"]
    for ours in FASTREBOOT_METHODS:
        ours_total = _median_total(by.get(ours, []))
        for key in methods:
            total = _median_total(by.get(key, []))
            if key in FASTREBOOT_METHODS or not (total and ours_total):
                continue
            # A soft reboot skips the kernel's boot too: issue 19 asks for half of C.
            limit = 0.5 if ours == "S" else 1.0
            target = f"≤ {limit:.2f}" if key in ("B", "Bt", "C") else "report"
            verdict = ""
            if target != "report":
                verdict = " ✓" if ours_total / total <= limit else " ✗"
            lines.append(f"| {ours}/{key} | {ours_total / total:.2f} | {target}{verdict} |")
    lines += [
        "",
        "## Details (medians, seconds)",
        "",
        "| method | shutdown (prepare + stop) | last line → QMP RESET | firmware (RESET → "
        "kernel) | last line → first new console line | kernel → initramfs | kernel lines "
        "shown in stop | cold first boot: QEMU start → READY (uptime) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for key in methods:
        ms = by.get(key, [])
        if not ms:
            continue
        shutdown = [m["phases"]["shutdown"] for m in ms]
        kmsg = [float(m["phases"]["kmsg_lines_in_stop"]) for m in ms]
        cold = [m["cold_boot"]["ready_after_qemu_start"] for m in ms]
        cold_up = [m["cold_boot"]["uptime_at_ready"] for m in ms]
        lines.append(
            f"| {key} | {_cell(shutdown)} | {_cell(_values(ms, 'reset_after_last_line'))} | "
            f"{_cell(_values(ms, 'firmware'))} | {_cell(_values(ms, 'handover_to_first_line'))} | "
            f"{_cell(_values(ms, 'kernel_to_initramfs'))} | {statistics.median(kmsg):.0f} | "
            f"{statistics.median(cold):.2f} ({statistics.median(cold_up):.2f}) |"
        )
    lines += ["", "Last lines of the old kernel and first lines of the new one (round 1):", ""]
    for key in methods:
        first = next((m for m in by.get(key, [])), None)
        if first:
            mk = first["phases"]["markers"]
            lines.append(
                f"- {key}: shutdown starts with `{mk['stop']['text'][:70]}`; last old line "
                f"`{mk['last_old']['text'][:70]}`; first new line "
                f"`{mk.get('first_new', {}).get('text', '')[:70]}`; loader byte "
                f"{first.get('type_of_loader')}"
            )
    timings = raw.get("guest_timings")
    if timings:
        labels = list(next(iter(timings.values())).get("runs", {}))
        lines += [
            "",
            "## fastreboot's own work inside the TCG guest (seconds)",
            "",
            "Each cell: first run after boot / median of the later runs (min-max). "
            "`fastreboot` is a console script like pip's that imports `fastreboot.cli` from the "
            "read-only project disk; "
            "*bytecode*: the disk carries `.pyc` files (as a pip/Debian install would), "
            "*no bytecode*: every run compiles every module (the guest cannot write "
            "`__pycache__`). Cold cache: `drop_caches` before each run.",
            "",
            "| what | " + " | ".join(timings) + " |",
            "|---|" + "---|" * len(timings),
        ]
        for label in labels:
            lines.append(
                f"| {label} | "
                + " | ".join(_timing_cell(t.get("runs", {}).get(label)) for t in timings.values())
                + " |"
            )
        for name, t in timings.items():
            if "console_line_cost_ms" in t:
                lines.append("")
                lines.append(
                    f"Console cost ({name} guest): one {t['console_cost_raw']['chars']}-"
                    f"character kernel line on the serial console costs "
                    f"{t['console_line_cost_ms']:.2f} ms."
                )
            if t.get("error"):
                lines.append(f"\n{name}: ERROR {t['error']}")
    host = raw.get("host_plan")
    if host:
        lines += [
            "",
            f"## `fastreboot plan` on the host ({host['tool']}, python {host['python_version']},"
            " fake Debian 12 sysroot, milliseconds)",
            "",
            "| case | median | min | max | runs |",
            "|---|---|---|---|---|",
        ]
        for label, c in host["cases"].items():
            lines.append(f"| {label} | {c['median_ms']} | {c['min_ms']} | {c['max_ms']} | "
                         f"{c['runs']} |")
        lines.append("")
        lines.append(f"`plan` imports {host['modules_imported']} modules, of fastreboot: "
                     + ", ".join(host["fastreboot_modules"]))
    bad = [m for m in raw["measurements"] if not _ok(m)]
    if bad:
        lines += ["", "## Measurements left out", ""]
        for m in bad:
            lines.append(f"- {m['method']} round {m['round']}: "
                         + (m.get("error") or "; ".join(m.get("problems", [])))[:300])
    contended = [m for m in raw["measurements"]
                 if m.get("other_guests_at_send") or m.get("other_guests_at_ready")]
    lines += ["", f"Other QEMU guests running during a measurement: {len(contended)} of "
              f"{len(raw['measurements'])} measurements."]
    return "\n".join(lines) + "\n"


def chart(raw: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by = _by_method(raw)
    keys = [k for k in raw["methods"] if by.get(k)]
    fig, ax = plt.subplots(figsize=(11, 1.9 + 0.7 * len(keys)))
    for row, key in enumerate(reversed(keys)):
        ms = by[key]
        left = 0.0
        for phase in PHASES:
            value = statistics.median(_values(ms, phase))
            ax.barh(row, value, left=left, color=COLORS[phase],
                    label=PHASE_TITLES[phase] if row == 0 else None, edgecolor="white")
            if value >= 1.5:
                ax.text(left + value / 2, row, f"{value:.1f}", ha="center", va="center",
                        color="white", fontsize=8)
            left += value
        totals = _values(ms, "total")
        mid = statistics.median(totals)
        ax.errorbar(mid, row + 0.3, xerr=[[mid - min(totals)], [max(totals) - mid]],
                    fmt="D", color="black", markersize=4, capsize=3, linewidth=1,
                    label="downtime: median, min-max" if row == 0 else None)
        ax.text(max(totals) + 0.5, row, f"{mid:.1f} s", va="center", fontsize=9)
    ax.set_yticks(range(len(keys)))
    ax.set_yticklabels([f"{k}: {raw['methods'][k]['title']}" for k in reversed(keys)],
                       fontsize=8)
    env = raw["environment"]
    ax.set_xlabel("seconds from the reboot command to READY in the next boot\n"
                  "(bars: median of each phase; the medians need not add up to the median "
                  "downtime)", fontsize=8)
    ax.set_xlim(0, max(max(_values(by[k], "total")) for k in keys) * 1.12)
    debian = env["guest"].get("debian", "Debian 12")
    ax.set_title(f"Reboot downtime, {debian} guest under QEMU {env['accel'].upper()} "
                 f"({env['date']}, {raw['settings']['rounds']} rounds)", fontsize=10)
    fig.legend(loc="lower center", ncol=3, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.12 + 0.2 / len(keys), 1, 1))
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write(raw: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.md").write_text(markdown(raw))
    chart(raw, out / "phases.png")
