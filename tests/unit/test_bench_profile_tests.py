"""bench/profile_tests.py: the kinds of process, the Terraform log read back, the sampler's sums
over a /proc of its own, and the summary it writes."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import profile_tests as profiler

PROVIDER = (
    "/tmp/w/terraform/old/.terraform/providers/registry.terraform.io/hashicorp/aws/5.100.0/"
    "linux_amd64/terraform-provider-aws_v5.100.0_x5"
)


@pytest.mark.parametrize(
    ("command_line", "executable", "kind"),
    [
        ("/usr/local/bin/terraform\0plan\0-out=p", "terraform", "terraform"),
        (f"{PROVIDER}\0", "terraform-provi", "terraform provider"),
        (
            "/v/bin/python3\0-m\0turnout.sandbox.emulator.server\0--port\01",
            "python3",
            "emulator",
        ),
        (
            "/v/bin/python3\0-I\0/r/cli/turnout/sandbox/lambda_runtime/worker.py\0",
            "python3",
            "Lambda function workers",
        ),
        ("/v/bin/python3\0-m\0turnout.sandbox.lambda_runtime\0", "python3", "Lambda runtime"),
        (
            "/v/bin/python3\0-u\0-c\0import sys;exec(eval(sys.stdin.readline()))",
            "python3",
            "pytest workers",
        ),
        ("", "terraform", "terraform"),  # exited: only its name is left
        ("", "sleep", "sleep"),
    ],
)
def test_a_process_is_named_by_its_command_line_or_else_its_executable(
    command_line, executable, kind
):
    assert profiler.kind_of(command_line, executable) == kind


def test_the_terraform_log_gives_each_command_its_kind_cpu_and_test():
    log = (
        "5.30 0.79 6.21 terraform plan -var-file=/tmp/pytest-of-root/pytest-0/popen-gw1/"
        "cutover-commit0/sandbox/terraform/old.tfvars.json -out=/tmp/x/old.tfplan -json\n"
        "10.00 0.90 36.80 terraform plan -destroy -var-file=/tmp/pytest-of-root/pytest-0/"
        "popen-gw2/e2e3/run/new.tfvars.json\n"
        "1.10 0.53 1.84 terraform init -backend-config=/work/x/backend.hcl -input=false\n"
        "Command exited with non-zero status 1\n"
    )
    commands = profiler.parse_terraform_log(log)
    assert [(c.kind, c.test, round(c.cpu, 2)) for c in commands] == [
        ("plan", "cutover-commit", 6.09),
        ("plan -destroy", "e2e", 10.9),
        ("init", "-", 1.63),
    ]
    summary = profiler.terraform_summary(commands)
    assert summary["commands"] == 3
    assert summary["cpu_seconds"] == 18.6
    assert list(summary["by_kind"]) == ["plan -destroy", "plan", "init"]
    assert summary["by_kind"]["plan"] == {"count": 1, "cpu_seconds": 6.1, "wall_seconds": 6.2}
    assert summary["by_test"]["e2e"] == {"cpu_seconds": 10.9, "commands": {"plan -destroy": 1}}


def fake_process(proc: Path, pid: int, name: str, ticks: int, start: int, cmdline: str) -> None:
    folder = proc / str(pid)
    folder.mkdir(exist_ok=True)
    # stat: pid (comm) state, then fields 4..; utime and stime are fields 14 and 15, start 22.
    fields = ["S"] + ["0"] * 10 + [str(ticks), "0"] + ["0"] * 6 + [str(start)] + ["0"] * 5
    (folder / "stat").write_text(f"{pid} ({name}) {' '.join(fields)}\n")
    (folder / "cmdline").write_bytes(cmdline.encode())


def test_the_sampler_keeps_each_process_last_cpu_and_its_first_kind(tmp_path):
    ticks = profiler.os.sysconf("SC_CLK_TCK")
    sampler = profiler.ProcessSampler(proc=tmp_path)
    fake_process(tmp_path, 9, "make", ticks * 7, 100, "make\0test")
    sampler.start()  # what pid 9 had used before the run is not the run's
    fake_process(tmp_path, 10, "terraform", ticks * 2, 500, "/usr/bin/terraform\0plan")
    fake_process(tmp_path, 11, "python3", ticks * 1, 501, "python3\0-m\0turnout.sandbox.emulator")
    fake_process(tmp_path, 9, "make", ticks * 8, 100, "make\0test")
    sampler.sample()
    # pid 10 exits (a zombie: no command line), pid 11 works on; pid 12 is a new process.
    fake_process(tmp_path, 10, "terraform", ticks * 3, 500, "")
    fake_process(tmp_path, 11, "python3", ticks * 4, 501, "python3\0-m\0turnout.sandbox.emulator")
    fake_process(tmp_path, 12, "sleep", ticks * 1, 900, "sleep\01")
    sampler.sample()
    # pid 10 is reused by another process: a different start time, a process of its own.
    fake_process(tmp_path, 10, "python3", ticks * 5, 950, "python3\0-m\0turnout.sandbox.emulator")
    sampler.sample()
    assert sampler.by_kind(leave_out={"12"}) == {"emulator": 9.0, "terraform": 3.0, "make": 1.0}


def test_the_summary_names_the_machine_the_kinds_the_commands_and_the_slowest_files():
    output = (
        "===== seconds per test file (slowest 2; slow_files.json) =====\n"
        "   650.1  tests/integration/test_retention_rehearsal_sandbox.py\n"
        "   610.6  tests/integration/test_cutover_sandbox.py\n"
        "1 passed in 2.00s\n"
    )
    result = {
        "date": "2026-12-03 16:00:00 UTC",
        "machine": profiler.machine(),
        "command": "make test",
        "exit_code": 0,
        "wall_seconds": 100.0,
        "cpu_seconds": 150.0,
        "sampled_cpu_seconds": 140.0,
        "cpu_by_process_kind": {"terraform provider": 70.0, "emulator": 70.0, "sleep": 0.2},
        "terraform": profiler.terraform_summary(
            profiler.parse_terraform_log("5.00 1.00 9.00 terraform apply /tmp/p/new.tfplan\n")
        ),
        "slowest_files": profiler.slowest_files(output),
    }
    text = profiler.markdown(result)
    assert "- machine: " in text and "cores" in text
    assert "| terraform provider | 70.0 | 50% |" in text
    assert "| sleep |" not in text  # under a CPU-second
    assert "| apply | 1 | 6.0 | 6.00 | 9.0 |" in text
    assert "| tests/integration/test_retention_rehearsal_sandbox.py | 650.1 |" in text


def test_without_terraform_on_path_it_refuses_in_one_sentence(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))
    code = profiler.main(["--output", str(tmp_path / "profile.md"), "--", "true"])
    assert code == 2
    said = capsys.readouterr().err
    assert said.startswith("profile_tests: no terraform on PATH") and said[-1] == "\n"
    assert said.count("\n") == 1
    assert not (tmp_path / "profile.md").exists()
