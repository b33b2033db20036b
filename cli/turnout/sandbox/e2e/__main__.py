"""python -m turnout.sandbox.e2e: the end-to-end run (see docs/e2e.md).

    make e2e-aws        # two real accounts, from TURNOUT_E2E_* (refuses to start without them)
    make e2e-emulator   # the same script on the local emulator (CI)

Exit status: 0 nothing lost and nothing left behind; 1 something lost, failed or left behind;
2 bad input (missing or wrong TURNOUT_E2E_* variables: nothing was started or created).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from turnout.errors import TurnoutError
from turnout.sandbox.e2e.run import E2eResult, run_e2e, tear_down_kept_run
from turnout.sandbox.e2e.settings import E2eSettings
from turnout.sandbox.pipeline.report import format_report

EPILOG = """examples:
  TURNOUT_E2E_OLD_ACCOUNT=111122223333 TURNOUT_E2E_NEW_ACCOUNT=444455556666 \\
  TURNOUT_E2E_REGION=eu-west-1 \\
  TURNOUT_E2E_OLD_ROLE_ARN=arn:aws:iam::111122223333:role/turnout-deploy \\
  TURNOUT_E2E_NEW_ROLE_ARN=arn:aws:iam::444455556666:role/turnout-deploy \\
  python -m turnout.sandbox.e2e                # = make e2e-aws
  python -m turnout.sandbox.e2e --emulator     # = make e2e-emulator
  python -m turnout.sandbox.e2e --emulator --rollback --json
  python -m turnout.sandbox.e2e --keep ; python -m turnout.sandbox.e2e --teardown .work/e2e/run-1a2b3c
"""


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m turnout.sandbox.e2e",
        description=(
            "The sandbox pipeline and a full cutover (baseline -> new-live -> committed) with "
            "live traffic from a producer of another account, in two real AWS accounts "
            "(TURNOUT_E2E_*) or on the local emulator, then the loss report and the teardown "
            "(both environments destroyed, the pipeline deleted)."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--emulator", action="store_true", help="run on the local emulator")
    parser.add_argument(
        "--rollback", action="store_true", help="roll back from new-live instead of committing"
    )
    parser.add_argument(
        "--rollback-from",
        choices=["switched", "mirrored", "new-live"],
        default="new-live",
        help="with --rollback: the phase the cutover reaches before the rollback (new-live)",
    )
    parser.add_argument(
        "--keep", action="store_true", help="no teardown: inspect, then --teardown the run's dir"
    )
    parser.add_argument(
        "--teardown", type=Path, metavar="RUN_DIR", help="tear down a run kept with --keep"
    )
    parser.add_argument("--rate", type=float, default=50.0, help="events per second (50)")
    parser.add_argument("--keys", type=int, default=200, help="partition keys (200)")
    parser.add_argument(
        "--root",
        type=Path,
        default=Path.cwd(),
        help="the checkout (default: the current directory)",
    )
    parser.add_argument("--work-dir", type=Path, help="default: <root>/.work/e2e")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    return parser.parse_args(argv)


def summary(result: E2eResult) -> str:
    lines = [f"end-to-end run {result.run_id} on {result.where}", " -> ".join(result.path), ""]
    if result.report:
        lines += [format_report(result.report), ""]
    lines.append("the producer's writes, per route it followed:")
    lines += [
        f"  route {stretch['route']}: old {stretch['old']:,}, new {stretch['new']:,}"
        for stretch in result.writes_by_route
    ]
    lines += [f"  {name}: {seconds} s" for name, seconds in result.timings.items()]
    lines.append(f"teardown: {json.dumps(result.teardown, default=str)}")
    if result.error:
        lines.append(f"error: {result.error}")
    verdict = result.nothing_lost and not result.left_behind and not result.error
    lines.append("result: " + ("nothing lost, nothing left behind" if verdict else "FAILED"))
    return "\n".join(lines)


def settings_for(args: argparse.Namespace, root: Path) -> E2eSettings:
    if not (root / "terraform" / "migration.yaml").is_file() or not (root / "hooks").is_dir():
        raise TurnoutError(
            f"{root} is not a turnout checkout (no terraform/migration.yaml and hooks/): run from "
            "the repository's root (make e2e-aws does) or pass --root. Nothing was started."
        )
    if args.emulator:
        return E2eSettings.for_emulator()
    return E2eSettings.from_environment(os.environ)


def tear_down(settings: E2eSettings, root: Path, run_dir: Path, progress) -> int:
    if not (run_dir / "migration.yaml").is_file():
        print(f"error: {run_dir} is not a kept end-to-end run (no migration.yaml)", file=sys.stderr)
        return 2
    try:
        teardown = tear_down_kept_run(settings, root, run_dir, progress)
    except Exception as problem:  # say why, once: the run's dir still has everything
        print(f"error: the teardown of {run_dir} failed: {problem}", file=sys.stderr)
        return 1
    print(json.dumps(teardown, indent=2, default=str))
    left = [name for names in teardown.get("leftovers", {}).values() for name in names]
    return 1 if teardown["problems"] or left else 0


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    root = args.root.resolve()
    work_dir = args.work_dir or root / ".work" / "e2e"
    try:
        settings = settings_for(args, root)
    except TurnoutError as problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    if args.rollback_from != "new-live" and not args.rollback:
        print(
            f"error: --rollback-from {args.rollback_from} needs --rollback (without it the run "
            "commits, through new-live).",
            file=sys.stderr,
        )
        return 2
    progress = (lambda message: print(message, file=sys.stderr, flush=True)) if args.json else print
    if args.teardown:
        return tear_down(settings, root, args.teardown, progress)
    try:
        result = run_e2e(
            settings,
            root,
            work_dir,
            progress,
            rollback=args.rollback,
            rollback_from=args.rollback_from,
            keep=args.keep,
            rate=args.rate,
            keys=args.keys,
        )
    except Exception as problem:  # the run tore itself down first; say why it failed, once
        print(f"error: the end-to-end run failed: {problem} (see {work_dir})", file=sys.stderr)
        return 1
    print(json.dumps(result.as_dict(), indent=2, default=str) if args.json else summary(result))
    failed = not result.nothing_lost or result.left_behind or result.teardown.get("problems")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
