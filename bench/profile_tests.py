"""Where a test run's CPU goes (`make profile-test`): every Terraform command timed, every
process's CPU sampled.

Usage: python bench/profile_tests.py [--output FILE] [--json] [-- COMMAND ...]

Runs COMMAND (default: the README's test command, ``make test``) with a ``terraform`` shim first
on ``PATH`` (turnout finds Terraform there): the shim runs the real binary, waits for it and
appends one line to a log: the user and system CPU seconds of Terraform and the provider
processes it started, its wall seconds and its command line. Meanwhile the CPU of every process
on the machine is read from ``/proc`` once a second and summed by kind (the Terraform provider,
Terraform, the emulator, the Lambda runtime and its function workers, the producers, the KCL
instances, the pytest workers, ...). A process's kind is taken from its command line while it
runs. A process that lives less than a second is missed by the sampler, but not by the
Terraform log.

Writes a Markdown summary (default bench/TEST_PROFILE.md) with the machine and the date:
CPU by process kind, Terraform commands by kind and by test, and the slowest test files when
the command printed pytest's per-file table. With ``--json`` it also prints the figures as
JSON. It exits with COMMAND's exit code. Linux only (``/proc``).

Example: python bench/profile_tests.py -- .venv/bin/pytest -n 2 tests/integration/test_verify.py
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from run import cpu_model  # noqa: E402

DEFAULT_OUTPUT = BENCH / "TEST_PROFILE.md"
SHIM = '''#!{python}
"""terraform shim (bench/profile_tests.py): run the real one, log its CPU and wall time."""
import os, shlex, signal, subprocess, sys, time
started = time.monotonic()
child = subprocess.Popen([{real!r}, *sys.argv[1:]])
for number in (signal.SIGINT, signal.SIGTERM):
    signal.signal(number, lambda received, frame: child.send_signal(received))
while True:
    try:
        _, status, usage = os.wait4(child.pid, 0)
        break
    except InterruptedError:
        continue
code = os.waitstatus_to_exitcode(status)
with open({log!r}, "a", encoding="utf-8") as log:
    log.write("%.2f %.2f %.2f %s\\n" % (
        usage.ru_utime, usage.ru_stime, time.monotonic() - started,
        shlex.join(["terraform", *sys.argv[1:]]),
    ))
sys.exit(code if code >= 0 else 128 - code)
'''
# Kinds of process, by a fragment of the command line (first match wins).
KINDS = (
    ("terraform-provider", "terraform provider"),
    ("turnout.sandbox.emulator", "emulator"),
    ("lambda_runtime/worker.py", "Lambda function workers"),
    ("turnout.sandbox.lambda_runtime", "Lambda runtime"),
    ("turnout.sandbox.pipeline.producer", "producer"),
    ("turnout.sandbox.pipeline.kcl_instance", "KCL instances"),
    ("turnout.sandbox.api_server", "sandbox APIs"),
    ("import sys;exec(eval(sys.stdin.readline()))", "pytest workers"),
    ("pytest", "pytest"),
    ("turnout", "turnout commands"),
    ("checkov", "checkov"),
    ("chromium", "chromium"),
)
TEST_DIRS = (re.compile(r"/popen-gw\d+/([^/\s]+)"), re.compile(r"/pytest-\d+/([^/\s]+)"))
FILE_SECONDS = re.compile(r"^\s*([\d.]+)\s+(tests/\S+\.py)\s*$")


def kind_of(command_line: str, executable: str) -> str:
    """The kind of a process, from its command line (NUL-separated as in /proc) and the
    basename of its executable."""
    line = command_line.replace("\0", " ")
    if executable == "terraform" or line.split(" ", 1)[0].endswith("/terraform"):
        return "terraform"
    for fragment, kind in KINDS:
        if fragment in line:
            return kind
    return executable or "other"


@dataclass
class TerraformCommand:
    user: float
    system: float
    wall: float
    command_line: str

    @property
    def cpu(self) -> float:
        return self.user + self.system

    @property
    def kind(self) -> str:
        words = shlex.split(self.command_line)[1:]
        name = next((word for word in words if not word.startswith("-")), "?")
        return f"{name} -destroy" if name == "plan" and "-destroy" in words else name

    @property
    def test(self) -> str:
        """The pytest temporary directory the command ran under (the test, with pytest's
        counter suffix removed), or '-'."""
        for pattern in TEST_DIRS:  # under xdist, the worker's directory holds the test's
            found = pattern.search(self.command_line)
            if found:
                return re.sub(r"\d+$", "", found.group(1))
        return "-"


def parse_terraform_log(text: str) -> list[TerraformCommand]:
    commands = []
    for line in text.splitlines():
        parts = line.split(" ", 3)
        try:
            user, system, wall = (float(value) for value in parts[:3])
        except ValueError:
            continue
        commands.append(TerraformCommand(user, system, wall, parts[3] if len(parts) > 3 else ""))
    return commands


@dataclass
class ProcessSampler:
    """Every process's CPU, read from /proc every ``interval`` seconds until stopped. What a
    process had used before the first sample (``start``) is not counted."""

    interval: float = 1.0
    proc: Path = Path("/proc")
    # (pid, start time) -> [kind, CPU seconds before the first sample, CPU seconds last seen]
    seen: dict[tuple[str, str], list] = field(default_factory=dict)
    _started: bool = False
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        self.sample()
        self._started = True

    def sample(self) -> None:
        ticks = os.sysconf("SC_CLK_TCK")
        for entry in self.proc.iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                command_line = (entry / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            executable = stat[stat.find("(") + 1 : stat.rfind(")")]
            fields = stat[stat.rfind(")") + 2 :].split()
            key = (entry.name, fields[19])
            cpu = (int(fields[11]) + int(fields[12])) / ticks
            known = self.seen.get(key)
            if known is None:
                before = 0.0 if self._started else cpu
                self.seen[key] = [kind_of(command_line, executable), before, cpu]
            else:
                known[2] = cpu

    def run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def stop(self) -> None:
        self._stop.set()

    def by_kind(self, leave_out: set[str]) -> dict[str, float]:
        """CPU seconds per kind since ``start`` (at least 0.1), the pids in ``leave_out``
        excepted."""
        totals: Counter[str] = Counter()
        for (pid, _), (kind, before, cpu) in self.seen.items():
            if pid not in leave_out:
                totals[kind] += cpu - before
        return {kind: cpu for kind, cpu in totals.most_common() if cpu >= 0.1}


def terraform_summary(commands: list[TerraformCommand]) -> dict:
    by_kind: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0.0])
    by_test: dict[str, Counter] = defaultdict(Counter)
    test_cpu: Counter[str] = Counter()
    for command in commands:
        row = by_kind[command.kind]
        row[0] += 1
        row[1] += command.cpu
        row[2] += command.wall
        by_test[command.test][command.kind] += 1
        test_cpu[command.test] += command.cpu
    return {
        "commands": len(commands),
        "cpu_seconds": round(sum(command.cpu for command in commands), 1),
        "by_kind": {
            kind: {"count": count, "cpu_seconds": round(cpu, 1), "wall_seconds": round(wall, 1)}
            for kind, (count, cpu, wall) in sorted(by_kind.items(), key=lambda item: -item[1][1])
        },
        "by_test": {
            test: {"cpu_seconds": round(cpu, 1), "commands": dict(by_test[test])}
            for test, cpu in test_cpu.most_common()
        },
    }


def slowest_files(output: str) -> list[tuple[float, str]]:
    """pytest's per-file seconds (tests/conftest.py prints them at the end), if printed."""
    return [
        (float(found.group(1)), found.group(2))
        for line in output.splitlines()
        if (found := FILE_SECONDS.match(line))
    ]


def machine() -> str:
    return f"{platform.platform()}, {cpu_model()}, {os.cpu_count()} cores"


class ProfileError(Exception):
    """What keeps the profile from being taken, in one sentence."""


def write_shim(directory: Path, log: Path) -> None:
    real = next(
        (
            str(Path(folder) / "terraform")
            for folder in os.environ.get("PATH", "").split(os.pathsep)
            if folder and os.access(Path(folder) / "terraform", os.X_OK)
        ),
        None,
    )
    if real is None:
        raise ProfileError(
            "no terraform on PATH to time; install Terraform 1.10 or newer (README, "
            "Prerequisites) or put the directory that holds it on PATH."
        )
    shim = directory / "terraform"
    shim.write_text(SHIM.format(python=sys.executable, real=real, log=str(log)))
    shim.chmod(0o755)


def run_command(
    command: list[str], environment: dict[str, str], transcript: Path
) -> tuple[int, float, float, str]:
    """Run ``command`` with its output going to ``transcript`` (echoed here as it grows: a
    process it leaves behind cannot hold a pipe open); returns its exit code, its wall seconds,
    the CPU seconds of it and of the processes it waited for, and its output."""
    started = time.monotonic()
    with open(transcript, "wb") as sink:
        child = subprocess.Popen(command, env=environment, stdout=sink, stderr=subprocess.STDOUT)
    done = threading.Event()
    echo = threading.Thread(target=_echo, args=(transcript, done), daemon=True)
    echo.start()
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    done.set()
    echo.join()
    cpu = usage.ru_utime + usage.ru_stime
    output = transcript.read_text(encoding="utf-8", errors="replace")
    return child.returncode, time.monotonic() - started, cpu, output


def _echo(transcript: Path, done: threading.Event) -> None:
    with open(transcript, "rb") as source:
        while True:
            finished = done.is_set()
            chunk = source.read()
            if chunk:
                sys.stdout.buffer.write(chunk)
                sys.stdout.flush()
            if finished:
                return
            done.wait(0.5)


def profile(command: list[str]) -> dict:
    with tempfile.TemporaryDirectory(prefix="turnout-profile-") as scratch:
        log = Path(scratch) / "terraform-times.log"
        log.touch()
        write_shim(Path(scratch), log)
        environment = dict(os.environ, PATH=scratch + os.pathsep + os.environ.get("PATH", ""))
        sampler = ProcessSampler()
        sampler.start()
        thread = threading.Thread(target=sampler.run, name="process-sampler", daemon=True)
        thread.start()
        try:
            code, wall, waited_cpu, output = run_command(
                command, environment, Path(scratch) / "output.log"
            )
        finally:
            sampler.stop()
            thread.join()
        sampler.sample()
        commands = parse_terraform_log(log.read_text())
    by_kind = sampler.by_kind(leave_out={str(os.getpid())})
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "machine": machine(),
        "command": shlex.join(command),
        "exit_code": code,
        "wall_seconds": round(wall, 1),
        "cpu_seconds": round(waited_cpu, 1),
        "sampled_cpu_seconds": round(sum(by_kind.values()), 1),
        "cpu_by_process_kind": {kind: round(cpu, 1) for kind, cpu in by_kind.items()},
        "terraform": terraform_summary(commands),
        "slowest_files": slowest_files(output)[:25],
    }


def markdown(result: dict) -> str:
    sampled = result["sampled_cpu_seconds"] or 1.0
    cores = os.cpu_count() or 1
    busy = result["cpu_seconds"] / (result["wall_seconds"] * cores) if result["wall_seconds"] else 0
    terraform = result["terraform"]
    lines = [
        "# Where a test run's CPU goes",
        "",
        "Written by `make profile-test` (`bench/profile_tests.py`).",
        "",
        f"- date: {result['date']}",
        f"- machine: {result['machine']}",
        f"- command: `{result['command']}` (exit code {result['exit_code']})",
        f"- wall: {result['wall_seconds']:,} s; CPU of the command and what it waited for: "
        f"{result['cpu_seconds']:,} s ({busy:.0%} of {cores} cores); sampled from /proc: "
        f"{result['sampled_cpu_seconds']:,} s",
        f"- Terraform: {terraform['commands']} commands, {terraform['cpu_seconds']:,} CPU-s "
        "(each with the provider processes it started)",
        "",
        "| process kind | CPU-s | share of sampled |",
        "|---|---:|---:|",
    ]
    for kind, cpu in result["cpu_by_process_kind"].items():
        if cpu >= 1:
            lines.append(f"| {kind} | {cpu:,.1f} | {cpu / sampled:.0%} |")
    lines += ["", "| Terraform command | count | CPU-s | CPU-s each | wall-s each |"]
    lines.append("|---|---:|---:|---:|---:|")
    for kind, row in terraform["by_kind"].items():
        count = row["count"]
        lines.append(
            f"| {kind} | {count} | {row['cpu_seconds']:,.1f} | {row['cpu_seconds'] / count:.2f} "
            f"| {row['wall_seconds'] / count:.1f} |"
        )
    lines += ["", "| test (pytest's temporary directory) | Terraform CPU-s | commands |"]
    lines.append("|---|---:|---|")
    for test, row in list(terraform["by_test"].items())[:20]:
        commands = ", ".join(f"{kind} {count}" for kind, count in row["commands"].items())
        lines.append(f"| {test} | {row['cpu_seconds']:,.1f} | {commands} |")
    if result["slowest_files"]:
        lines += ["", "| test file | seconds |", "|---|---:|"]
        lines += [f"| {name} | {seconds:,.1f} |" for seconds, name in result["slowest_files"]]
    return "\n".join(lines) + "\n"


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python bench/profile_tests.py",
        description=(__doc__ or "").split("\n\n")[0],
        epilog=(
            "example:\n  python bench/profile_tests.py -- .venv/bin/pytest -n 2 "
            "tests/integration/test_verify.py\n  make profile-test   # the whole `make test`"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=DEFAULT_OUTPUT,
        help=f"the Markdown summary (default {DEFAULT_OUTPUT.relative_to(BENCH.parent)})",
    )
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    parser.add_argument("command", nargs="*", help="the command to profile (default: make test)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if not Path("/proc/self/stat").exists():
        print("profile_tests: needs Linux's /proc to sample processes.", file=sys.stderr)
        return 2
    try:
        result = profile(args.command or ["make", "test"])
    except ProfileError as problem:
        print(f"profile_tests: {problem}", file=sys.stderr)
        return 2
    args.output.write_text(markdown(result), encoding="utf-8")
    print(f"\nprofile written to {args.output}", file=sys.stderr)
    if args.json:
        print(json.dumps(result, indent=2))
    return result["exit_code"]


if __name__ == "__main__":
    sys.exit(main())
