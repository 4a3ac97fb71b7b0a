"""The benchmark report: Markdown tables (stdout and docs/benchmarks.md) and a bar chart."""

from __future__ import annotations

import datetime
import importlib.metadata
import math
import os
import platform
import statistics
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench._results import (
    CLIENT,
    LATENESS_LIMIT_MS,
    RAW,
    ClientOverhead,
    Measurement,
    Profile,
    WatchLevel,
)
from bench._servers import CONFIGS, Config

# Bars of the chart, left to right within each group; groups are process counts.
FAMILIES = (
    "chrono",
    "chrono native",
    "bare grpcio aio",
    "bare grpcio sync",
    "Flask dev server",
    "gunicorn",
)
C1_P99_TARGET_MS = 2.0
# Written as escapes: ruff flags the characters themselves as look-alikes.
DASH = "\N{EN DASH}"
TIMES = "\N{MULTIPLICATION SIGN}"

HOW_TO_READ = f"""\
Every server runs on this machine with its load generator, and both compete for the
same cores: the "load gen cores" column says how many cores h2load or wrk used, and a
server cannot use more than what is left; "other cores" is whatever else kept the
machine busy during the measurement (the runner itself, and anything else running:
more than a few tenths means the round was disturbed). Compare rows, not absolute numbers, and only
within one run of this script: each round starts every configuration afresh, in a
rotating order, and a ratio is taken between two configurations measured in the same
round, then summarised as the median and the [min{DASH}max] over the rounds. "vs bare
aio" divides by the bare grpcio asyncio server with the same number of processes: 1.00
means chrono's layers (health, reflection, limits, metrics, logging, error mapping) cost
nothing measurable, 0.80 that they cost a fifth of the throughput. "vs Flask dev" and
"vs gunicorn" compare with the original design's HTTP/1.1 JSON service (the Flask
development server, threaded and logging every request, and gunicorn's sync workers,
which close the connection after every response): they compare whole stacks, protocol
included. "CPU µs/call" is the CPU time of the server's whole process tree (workers
included) during the throughput run divided by the calls it answered: lower is better,
and it depends less than req/s on how much CPU the load generator left over. The p50
and p99 of the throughput table are latencies under full load, so they mostly measure
queueing, and they are not comparable across protocols: h2load keeps 128 gRPC calls in
flight (16 connections {TIMES} 8 streams), wrk 16 HTTP requests (one per connection).
The one-call-in-flight table measures the latency of one call on an otherwise idle
server. "checks" are calls made after each load (20 real gRPC calls with the generated
stub, and 3 curl calls with h2load's exact request body whose trailers must carry
grpc-status 0; or 20 GETs for HTTP), because h2load counts any HTTP 200 as a success
even when the gRPC status is an error."""


@dataclass
class Report:
    """Everything one run measured, and how to write it."""

    command: str
    plan_text: str
    unavailable: dict[str, str] = field(default_factory=dict)
    throughput: list[Measurement] = field(default_factory=list)
    watches: list[WatchLevel] = field(default_factory=list)
    client: ClientOverhead | None = None
    profile: Profile | None = None
    elapsed: float = 0.0

    def summary_lines(self) -> list[str]:
        """The result tables, for stdout."""
        return ["", *self._sections()]

    def _sections(self) -> list[str]:
        lines: list[str] = []
        if self.throughput or self.unavailable:
            lines += ["## Throughput: GetTime at 16 connections", ""]
            lines += self._throughput_table()
            lines += ["", "## Latency: one call in flight", ""]
            lines += self._latency_table()
            lines += self._problems()
        if self.watches:
            lines += ["", "## WatchTime: streams one chrono process holds", ""]
            lines += self._watch_table()
        if self.client is not None:
            lines += ["", "## Client library overhead", ""]
            lines += self._client_table(self.client)
        if self.profile is not None:
            lines += ["", "## Profile: chrono time-service under h2load (py-spy)", ""]
            lines += self._profile_section(self.profile)
        return lines

    # --- throughput -------------------------------------------------------------

    def _configs(self) -> list[Config]:
        seen = {m.config.key for m in self.throughput}
        return [c for c in CONFIGS if c.key in seen]

    def _by(self, key: str) -> list[Measurement]:
        return [m for m in self.throughput if m.config.key == key and m.error is None]

    def _ratios(self, config: Config, other_key: str) -> list[float]:
        """Per-round req/s of ``config`` over ``other_key``'s in the same round."""
        others = {m.round: m.rps for m in self._by(other_key)}
        return [
            m.rps / others[m.round]
            for m in self._by(config.key)
            if m.round in others and others[m.round] > 0
        ]

    def _throughput_table(self) -> list[str]:
        rows = [
            "| configuration | processes | req/s | vs bare aio | vs Flask dev | vs gunicorn "
            "| p50 ms | p99 ms | CPU µs/call | server cores | load gen cores | other cores "
            "| peak RSS MiB "
            "| start-up s | checks |",
            "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|",
        ]
        for config in self._configs():
            ms = self._by(config.key)
            failed = [m for m in self.throughput if m.config.key == config.key and m.error]
            if not ms:
                rows.append(
                    f"| {config.label} | {config.processes} | failed in every round: "
                    f"{_short(failed[0].error or '')} |" + " |" * 12
                )
                continue
            bare = f"bare aio {config.processes}p"
            gunicorn = f"gunicorn {config.processes}w"
            rows.append(
                "| "
                + " | ".join(
                    [
                        config.label,
                        _processes(config, ms),
                        _range([m.rps for m in ms], "{:,.0f}"),
                        _range(self._ratios(config, bare), "{:.2f}"),
                        _range(self._ratios(config, "flask dev"), "{:.2f}"),
                        _range(self._ratios(config, gunicorn), "{:.2f}"),
                        _med([m.p50_ms for m in ms], "{:.2f}"),
                        _range([m.p99_ms for m in ms], "{:.2f}"),
                        _med([m.cpu_us_per_call for m in ms], "{:.0f}"),
                        _med([m.server_cores for m in ms], "{:.2f}"),
                        _med([m.loadgen_cores for m in ms], "{:.2f}"),
                        _med([m.other_cores for m in ms], "{:.2f}"),
                        _med([m.peak_rss_mib for m in ms], "{:.0f}"),
                        _med([m.startup_s for m in ms], "{:.2f}"),
                        _checks(ms, len(failed)),
                    ]
                )
                + " |"
            )
        for key, why in self.unavailable.items():
            rows.append(f"| {key} | | not available: {why} |" + " |" * 12)
        return rows

    def _latency_table(self) -> list[str]:
        rows = [
            "| configuration | req/s | p50 ms | p99 ms | p99 under 2 ms |",
            "|---|--:|--:|--:|---|",
        ]
        for config in self._configs():
            ms = self._by(config.key)
            if not ms:
                continue
            p99s = [m.c1_p99_ms for m in ms]
            under = sum(1 for p in p99s if p < C1_P99_TARGET_MS)
            rows.append(
                f"| {config.label} | {_med([m.c1_rps for m in ms], '{:,.0f}')} "
                f"| {_range([m.c1_p50_ms for m in ms], '{:.2f}')} | {_range(p99s, '{:.2f}')} "
                f"| {'yes' if under == len(p99s) else 'no'} ({under}/{len(p99s)} rounds) |"
            )
        return rows

    def _problems(self) -> list[str]:
        lines: list[str] = []
        for m in self.throughput:
            if m.error is not None:
                lines.append(f"- round {m.round}, {m.config.label}: failed: {_short(m.error)}")
            elif not m.check_ok:
                lines.append(f"- round {m.round}, {m.config.label}: checks failed: {m.check}")
        notes: dict[str, set[str]] = {}
        for m in self.throughput:
            notes.setdefault(m.config.label, set()).update(m.notes)
        lines += [f"- {label}: {'; '.join(sorted(n))}" for label, n in notes.items() if n]
        return ["", "Problems and notes:", "", *lines] if lines else []

    # --- watches ----------------------------------------------------------------

    def _watch_table(self) -> list[str]:
        rows = [
            "| engine | streams | opened how | opened | open s | ticks received | lateness p50 ms "
            "| p99 ms | max ms | server lag p99 ms | server cores | server RSS MiB "
            "| client cores | errors | holds |",
            "|---|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|---|",
        ]
        for level in self.watches:
            how = f"{level.ramp:,.0f} per s" if level.ramp else "all at once"
            if level.error is not None:
                rows.append(
                    f"| {level.engine} | {level.streams:,} | {how} "
                    f"| failed: {_short(level.error)} |" + " |" * 12
                )
                continue
            r = level.result
            rows.append(
                f"| {level.engine} | {level.streams:,} | {how} | {r['opened']:,} "
                f"| {r['open_seconds']:.1f} "
                f"| {r['ticks_received']:,}/{r['ticks_expected']:,} "
                f"| {r['lateness_p50_ms']:.0f} | {r['lateness_p99_ms']:.0f} "
                f"| {r['lateness_max_ms']:.0f} | {r['server_lag_p99_ms']:.0f} "
                f"| {level.server_cores:.2f} | {level.server_rss_mib:.0f} "
                f"| {r['client_cpu_cores']:.2f} | {_errors(r['errors'])} "
                f"| {'yes' if level.holds else 'no'} |"
            )
        ramped = [lv for lv in self.watches if lv.ramp and lv.engine == "grpcio"]
        held = [lv.streams for lv in ramped if lv.holds]
        verdict = (
            f"One chrono time-service process held **{max(held):,}** streams (the largest "
            f"level tried with every tick received and p99 lateness under "
            f"{LATENESS_LIMIT_MS:.0f} ms)."
            if held
            else f"No level tried kept p99 lateness under {LATENESS_LIMIT_MS:.0f} ms."
        )
        notes = [f"- {lv.streams:,}: {'; '.join(lv.notes)}" for lv in self.watches if lv.notes]
        return [*rows, "", verdict, *(["", *notes] if notes else [])]

    # --- client overhead --------------------------------------------------------

    @staticmethod
    def _client_table(client: ClientOverhead) -> list[str]:
        if client.error is not None:
            return [f"Failed: {client.error}"]
        rows = ["| calls | calls/s | µs/call | vs raw stub |", "|---|--:|--:|--:|"]
        raw = client.rates.get(RAW, [])
        for name in (CLIENT, RAW):
            rates = client.rates.get(name, [])
            ratios = [a / b for a, b in zip(rates, raw, strict=False) if b > 0]
            rows.append(
                f"| `{name}` | {_range(rates, '{:,.0f}')} "
                f"| {_med([1e6 / r for r in rates if r > 0], '{:.0f}')} "
                f"| {_range(ratios, '{:.2f}')} |"
            )
        return rows

    # --- profile ----------------------------------------------------------------

    @staticmethod
    def _profile_section(profile: Profile) -> list[str]:
        lines = profile_lines(profile)
        if profile.command:
            lines = [
                f"`{profile.command}` for {profile.seconds:g} s while h2load (16 connections, "
                f"8 streams each) ran at {profile.rps:,.0f} req/s; py-spy pauses the process "
                "for every sample, so that is slower than unprofiled.",
                "",
                *lines,
            ]
        return lines

    # --- files ------------------------------------------------------------------

    def write(self, out: Path) -> list[Path]:
        """Write benchmarks.md, and benchmarks.png if there are req/s, into ``out``."""
        chart = out / "benchmarks.png"
        charted = bool(self._configs())
        if charted:
            self._chart(chart)
        markdown = out / "benchmarks.md"
        when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
        lines = [
            "# Benchmarks",
            "",
            "Written by `scripts/bench` (`bench/run.py`); do not edit by hand, run it again.",
            f"Run {when}, {self.elapsed / 60:.1f} minutes.",
            "",
            "## Machine",
            "",
            *[f"- {line}" for line in machine_lines()],
            "",
            "## Command",
            "",
            "```sh",
            self.command,
            "```",
            "",
            self.plan_text + ".",
            "",
            "## How to read",
            "",
            HOW_TO_READ,
            "",
            *([f"![req/s by configuration]({chart.name})", ""] if charted else []),
            *self._sections(),
            "",
        ]
        markdown.write_text("\n".join(lines))
        return [markdown, chart] if charted else [markdown]

    def _chart(self, path: Path) -> None:
        # Figure without pyplot: no global state, no display needed.
        from matplotlib.figure import Figure

        groups = sorted({c.processes for c in self._configs()}) or [1]
        figure = Figure(figsize=(10, 5.5), layout="constrained")
        axes = figure.subplots()
        width = 0.8 / len(FAMILIES)
        for index, family in enumerate(FAMILIES):
            xs: list[float] = []
            heights: list[float] = []
            low: list[float] = []
            high: list[float] = []
            for group_index, processes in enumerate(groups):
                config = next(
                    (c for c in self._configs() if c.family == family and c.processes == processes),
                    None,
                )
                rates = [m.rps for m in self._by(config.key)] if config else []
                if not rates:
                    continue
                median = statistics.median(rates)
                xs.append(group_index + (index - (len(FAMILIES) - 1) / 2) * width)
                heights.append(median)
                low.append(median - min(rates))
                high.append(max(rates) - median)
            if not xs:
                continue
            bars = axes.bar(xs, heights, width, yerr=[low, high], capsize=3, label=family)
            axes.bar_label(bars, labels=[f"{h:,.0f}" for h in heights], fontsize=7, padding=2)
        axes.set_xticks(range(len(groups)), [f"{p} process{'es' if p > 1 else ''}" for p in groups])
        axes.set_ylabel(f"requests per second: GetTime, or GET /time (median, min{DASH}max)")
        axes.set_title(
            "chrono time service vs baselines: 16 connections, "
            f"{os.cpu_count()} cores shared with the load generator"
        )
        axes.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        axes.grid(axis="y", alpha=0.3)
        figure.savefig(path, dpi=110)


def profile_lines(profile: Profile) -> list[str]:
    """The profile as two Markdown tables of busy samples: by frame, by Python function."""
    if profile.error is not None:
        return [f"Profile failed: {profile.error}"]
    busy = profile.samples - profile.waiting
    if not busy:
        return ["Profile: no busy samples."]
    lines = [
        f"{profile.samples:,} samples of threads py-spy saw as active; {profile.waiting:,} "
        f"({100 * profile.waiting / profile.samples:.0f}%) were waiting in the kernel "
        "(epoll_wait, futex) and are left out. Shares below are of the other "
        f"{busy:,}.",
        "",
        "| innermost frame (own time, native included) | share |",
        "|---|--:|",
    ]
    lines += [f"| `{name}` | {100 * count / busy:.1f}% |" for name, count in profile.own]
    lines += ["", "| innermost Python function -> native module below it | share |", "|---|--:|"]
    lines += [f"| `{name}` | {100 * count / busy:.1f}% |" for name, count in profile.python]
    return lines


def machine_lines() -> list[str]:
    """What the numbers were measured on."""
    model = "unknown"
    memory = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 2**20:.1f} GiB"
                break
    except OSError:
        pass
    versions = ", ".join(
        f"{name} {_version(name)}"
        for name in ("grpcio", "protobuf", "Flask", "gunicorn", "matplotlib")
    )
    return [
        f"nproc: {len(os.sched_getaffinity(0))}; CPU: {model}; memory: {memory}",
        f"{platform.system()} {platform.release()}; Python {platform.python_version()}",
        versions,
        f"load generators: {_tool_version(['h2load', '--version'])}, "
        f"{_tool_version(['wrk', '-v'])}",
    ]


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _tool_version(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return f"{argv[0]} not found"
    first = (done.stdout + done.stderr).strip().splitlines()
    return first[0].split("Copyright")[0].strip() if first else argv[0]


def _finite(values: Iterable[float]) -> list[float]:
    return [v for v in values if not math.isnan(v)]


def _med(values: Iterable[float], fmt: str) -> str:
    finite = _finite(values)
    return fmt.format(statistics.median(finite)) if finite else DASH


def _range(values: Iterable[float], fmt: str) -> str:
    """The median and [min, max] joined by an en dash, or the one value of a single round."""
    finite = _finite(values)
    if not finite:
        return DASH
    median = fmt.format(statistics.median(finite))
    if len(finite) == 1:
        return median
    return f"{median} [{fmt.format(min(finite))}{DASH}{fmt.format(max(finite))}]"


def _processes(config: Config, ms: Sequence[Measurement]) -> str:
    # Processes seen in the tree can include a supervisor (or multiprocessing's helper).
    seen = sorted({m.processes for m in ms})
    text = str(config.processes)
    if seen != [config.processes]:
        text += f" ({'/'.join(map(str, seen))} seen)"
    return text


def _checks(ms: Sequence[Measurement], failures: int) -> str:
    good = sum(1 for m in ms if m.check_ok)
    text = f"{good}/{len(ms) + failures} ok"
    if good < len(ms):
        bad = next(m for m in ms if not m.check_ok)
        text += f" ({_short(bad.check, 80)})"
    return text


def _errors(errors: dict[str, int]) -> str:
    return ", ".join(f"{code} {count}" for code, count in errors.items()) or "none"


def _short(text: str, limit: int = 160) -> str:
    text = " ".join(text.split()).replace("|", "/")
    return text if len(text) <= limit else text[: limit - 1] + "…"
