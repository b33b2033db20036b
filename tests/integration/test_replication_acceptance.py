"""The replicator's acceptance, end to end on the emulator.

Real infrastructure: ``specs/replication.yaml`` applied with the real Terraform into both
environments at phase ``baseline``, then re-rendered at ``mirrored`` and applied again, which
enables the new→old replicator's mappings and sets the active-direction parameter in both
accounts (the real toggle). Real code: the deployed replicator zip, run by the local Lambda
runtime (in-process, or as the ``python -m turnout.sandbox.lambda_runtime`` CLI), scoped to this spec's
two accounts. Real cross-account writes: the function assumes the writer role in the other
account with the external id.

Every scenario checks, per partition key, that nothing is lost and that the order of first
occurrences in the target is the source order; duplicates (at-least-once delivery) are counted
and printed.
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from pathlib import Path

import pytest
import replication_kit as kit
import yaml

from turnout.errors import SpecError
from turnout.lambdas.replicator.aggregates import MAGIC as AGGREGATE_MAGIC
from turnout.sandbox import kpl
from turnout.sandbox.chaos.api_faults import fault_status, set_faults
from turnout.sandbox.chaos.faults import LAMBDA_USER_AGENT
from turnout.spec.loader import load_spec

pytestmark = pytest.mark.integration

MAIN = "relay-events"
FAULTS = "relay-faults"
LOOP = "relay-loop"
GUARD_CACHE_S = 5.0  # the replicator caches each parameter value for at most 5 s


@pytest.fixture(scope="module")
def deployment(emulator, terraform_ready, tmp_path_factory) -> kit.Deployment:
    deployment = kit.Deployment(emulator, tmp_path_factory.mktemp("replication"))
    baseline = deployment.apply("baseline")
    assert baseline["old"].get("add", 0) > 10 and baseline["new"].get("add", 0) > 10, baseline
    assert deployment.directions() == {"old": "none", "new": "none"}
    mirrored = deployment.apply("mirrored")
    # The toggle changes things in place (the mappings' `enabled`, the parameters, the route);
    # it never replaces or destroys anything.
    for environment, totals in mirrored.items():
        assert not totals.get("destroy") and not totals.get("replace"), (environment, totals)
    assert mirrored["new"].get("change", 0) >= 4, mirrored  # 3 mappings + the parameter
    return deployment


@pytest.fixture(scope="module")
def state_dir(deployment) -> Path:
    """One runtime state (checkpoints) for the whole module, like one Lambda service."""
    path = deployment.work_dir / "runtime"
    path.mkdir()
    return path


def _source_and_target(deployment, logical, tags, direction=("new", "old")):
    source_env, target_env = direction
    source = kit.read_stream(
        deployment.client("kinesis", source_env), deployment.stream_name(logical, source_env)
    )
    target = kit.read_stream(
        deployment.client("kinesis", target_env), deployment.stream_name(logical, target_env)
    )
    return source, target, kit.check_delivery(kit.tagged(source, tags), kit.tagged(target, tags))


def _wait_replicated(deployment, logical, source, timeout, environment="new"):
    name = deployment.stream_name(logical, environment)
    ends = kit.shard_ends(source)
    return kit.wait_for(
        lambda: kit.ledger_caught_up(deployment.ledger(environment), name, ends),
        timeout,
        what=f"{name} replicated (ledger)",
        progress=lambda: kit.ledger_progress(deployment.ledger(environment), name, ends),
    )


def test_mirrored_phase_is_set_by_terraform(deployment):
    assert deployment.directions() == {"old": "new_to_old", "new": "new_to_old"}
    for environment, expected in (("new", "Enabled"), ("old", "Disabled")):
        mappings = deployment.client("lambda", environment).list_event_source_mappings(
            FunctionName=deployment.function_name(environment)
        )["EventSourceMappings"]
        assert len(mappings) == 3
        assert {m["State"] for m in mappings} == {expected}, mappings


def test_50000_records_over_4_shards_and_1000_keys_replicate_in_order(deployment, state_dir):
    kinesis = deployment.client("kinesis", "new")
    source_name = deployment.stream_name(MAIN, "new")
    shards = kinesis.list_shards(StreamName=source_name)["Shards"]
    assert len(shards) == 4
    records = kit.keyed_records("main", 50_000, 1_000, seed=11)
    assert len({r.key for r in records}) == 1_000

    started = time.monotonic()
    with deployment.runtime(state_dir) as runtime:
        # Live traffic: the producer writes while the replicator runs.
        reported = [0]

        def progress(sent: int) -> None:
            if sent - reported[0] >= 10_000:
                reported[0] = sent
                print(f"[put] {sent} records in {time.monotonic() - started:.1f}s", flush=True)

        calls = kit.put_records(kinesis, source_name, records, progress=progress)
        put_seconds = time.monotonic() - started
        source = kit.read_stream(kinesis, source_name)
        waited = _wait_replicated(deployment, MAIN, source, timeout=240)
        stats = dict(runtime.stats)
    total = time.monotonic() - started
    assert calls >= 100  # 500 records a call, more when a shard's write limit throttled some

    _, target, delivery = _source_and_target(deployment, MAIN, {"main"})
    print(
        f"\n[main] 50,000 records, 1,000 keys, 4 shards: put {put_seconds:.1f}s, replicated "
        f"{total:.1f}s after the first put ({waited:.1f}s after the last); {delivery.summary()}; "
        f"runtime {stats}"
    )
    assert delivery.source_records == 50_000 and delivery.keys == 1_000
    assert delivery.ok, (delivery.summary(), delivery.lost[:5], delivery.order_violations[:5])
    # Source order is the producer's per-key order (n = 0, 1, 2, ...) on every key.
    for rows in kit.tagged(source, {"main"}).values():
        per_key: dict[str, int] = {}
        for _, key, n in rows:
            assert n == per_key.get(key, -1) + 1
            per_key[key] = n

    ledger = deployment.ledger("new")
    for shard, rows in source.items():
        item = ledger[f"{source_name}/{shard}"]
        assert item["last_sequence_number"] == rows[-1]["SequenceNumber"], (shard, item)
        assert item["record_count"] == len(rows), (shard, item)
        assert item["direction"] == "new_to_old"
        assert item["target_stream"] == deployment.stream_name(MAIN, "old")
    assert sum(len(rows) for rows in target.values()) == 50_000 + delivery.duplicates


def test_function_error_mid_batch_after_a_partial_write(deployment, state_dir):
    """(a) The deployed code is replaced (update_function_code) by the production replicator
    package plus a chaos module that writes the first half of a batch through the real handler and
    then raises. Lambda retries (bisecting the batch); nothing is lost or reordered."""
    log = deployment.function_log(state_dir, "new")
    raised_before = kit.count_log_messages(log, "chaos_raise")
    # Raise in the first invocations of each worker: with 2,000-record batches these 6,000
    # records make only a handful of invocations (plus the retries of the bisected halves).
    deployment.deploy_code("new", kit.chaos_files(every=1, max_raises=3), "chaos.handler")
    kinesis = deployment.client("kinesis", "new")
    records = kit.keyed_records("chaos", 6_000, 200, seed=3)
    try:
        with deployment.runtime(state_dir) as runtime:
            kit.put_records(kinesis, deployment.stream_name(FAULTS, "new"), records)
            source = kit.read_stream(kinesis, deployment.stream_name(FAULTS, "new"))
            waited = _wait_replicated(deployment, FAULTS, source, timeout=120)
            stats = dict(runtime.stats)
    finally:
        deployment.restore_code("new")
    raised = kit.count_log_messages(log, "chaos_raise") - raised_before
    _, _, delivery = _source_and_target(deployment, FAULTS, {"chaos"})
    print(
        f"\n[chaos] 6,000 records, 200 keys, 2 shards: {raised} function errors after partial "
        f"writes, replicated in {waited:.1f}s; {delivery.summary()}; runtime {stats}"
    )
    assert raised >= 1, "the chaos handler never ran"
    assert delivery.source_records == 6_000
    assert delivery.ok, (delivery.summary(), delivery.lost[:5], delivery.order_violations[:5])
    assert delivery.duplicates >= 1, "a partial write followed by a retry must re-send records"


def test_lost_put_records_answers_are_sent_again_and_nothing_is_lost(deployment, state_dir):
    """The emulator's fault mode executes a third of the replicator's PutRecords calls and loses
    their answer (the answer that never reaches a Lambda function whose connection times out):
    the replicator cannot know what was written, sends the call again, and the target gets
    duplicates but loses nothing. Only requests from Lambda functions (their user agent) match."""
    rule = {
        "operation": "kinesis PutRecords",
        "user_agent": LAMBDA_USER_AGENT,
        "lost_answer_rate": 0.33,
    }
    set_faults(deployment.emulator.endpoint_url, [rule], seed=11)
    kinesis = deployment.client("kinesis", "new")
    records = kit.keyed_records("lost", 4_000, 200, seed=11)
    try:
        kit.put_records(kinesis, deployment.stream_name(FAULTS, "new"), records)
        with deployment.runtime(state_dir):
            source = kit.read_stream(kinesis, deployment.stream_name(FAULTS, "new"))
            waited = _wait_replicated(deployment, FAULTS, source, timeout=180)
        counters = fault_status(deployment.emulator.endpoint_url)["rules"][0]["counters"]
    finally:
        set_faults(deployment.emulator.endpoint_url, [])
    _, _, delivery = _source_and_target(deployment, FAULTS, {"lost"})
    print(
        f"\n[lost answers] 4,000 records, 200 keys: {counters['answers_lost']} of "
        f"{counters['calls']} replicator PutRecords answers lost, replicated in {waited:.1f}s; "
        f"{delivery.summary()}"
    )
    assert counters["answers_lost"] >= 1, f"no replicator call matched the rule: {counters}"
    assert delivery.source_records == 4_000
    assert delivery.ok, (delivery.summary(), delivery.lost[:5], delivery.order_violations[:5])
    assert delivery.duplicates >= 1, "a lost answer must make the replicator send again"


def test_runtime_sigkilled_mid_replication_resumes_from_its_checkpoints(deployment, state_dir):
    """(b) The runtime CLI (with a pid file) is SIGKILLed while it replicates, then started
    again on the same state directory: it resumes after its last checkpoint."""
    kinesis = deployment.client("kinesis", "new")
    source_name = deployment.stream_name(FAULTS, "new")
    before = deployment.ledger("new")
    done_before = sum(
        item["record_count"] for key, item in before.items() if key.startswith(source_name + "/")
    )
    records = kit.keyed_records("kill", 20_000, 300, seed=5)
    kit.put_records(kinesis, source_name, records)
    source = kit.read_stream(kinesis, source_name)

    def replicated() -> int:
        return (
            sum(
                item["record_count"]
                for key, item in deployment.ledger("new").items()
                if key.startswith(source_name + "/")
            )
            - done_before
        )

    log_file = state_dir / "runtime-cli.log"
    first = deployment.runtime_cli(state_dir, log_file)
    try:
        kit.wait_for(
            lambda: replicated() >= 3_000,
            60,
            what="partial replication before the kill",
            progress=lambda: f"{replicated()} of 20000",
        )
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(10)
    finally:
        kit.stop_process(first, signal.SIGKILL)
    at_kill = replicated()
    assert at_kill < 20_000, "replication finished before the kill; put more records"
    assert (state_dir / "lambda-runtime.pid").read_text().strip() == str(first.pid)  # stale
    second = deployment.runtime_cli(state_dir, log_file)
    try:
        waited = _wait_replicated(deployment, FAULTS, source, timeout=120)
    finally:
        kit.stop_process(second)
    assert second.returncode == 0
    assert not (state_dir / "lambda-runtime.pid").exists()
    _, _, delivery = _source_and_target(deployment, FAULTS, {"kill"})
    print(
        f"\n[sigkill] 20,000 records, 300 keys: killed (SIGKILL, pid {first.pid}) after "
        f"{at_kill} records, restarted, done {waited:.1f}s later; {delivery.summary()}"
    )
    assert delivery.source_records == 20_000
    assert delivery.ok, (delivery.summary(), delivery.lost[:5], delivery.order_violations[:5])


def test_writer_credentials_expire_mid_run(deployment, state_dir):
    """(c) The writer role's sessions expire after 10 requests while the function runs
    (enforced at the HTTP boundary by a wrapper module: moto never expires sessions). The
    handler drops them, assumes the role again and goes on."""
    log = deployment.function_log(state_dir, "new")
    injected_before = kit.count_log_messages(log, "expired_token_injected")
    dropped_before = kit.count_log_messages(log, "writer_credentials_dropped")
    assumed_before = kit.count_log_messages(log, "writer_role_assumed")
    deployment.deploy_code("new", kit.expiry_files(uses=10), "expiry.handler")
    kinesis = deployment.client("kinesis", "new")
    records = kit.keyed_records("expiry", 12_000, 400, seed=9)
    try:
        with deployment.runtime(state_dir):
            kit.put_records(kinesis, deployment.stream_name(FAULTS, "new"), records)
            source = kit.read_stream(kinesis, deployment.stream_name(FAULTS, "new"))
            waited = _wait_replicated(deployment, FAULTS, source, timeout=120)
    finally:
        deployment.restore_code("new")
    injected = kit.count_log_messages(log, "expired_token_injected") - injected_before
    dropped = kit.count_log_messages(log, "writer_credentials_dropped") - dropped_before
    assumed = kit.count_log_messages(log, "writer_role_assumed") - assumed_before
    _, _, delivery = _source_and_target(deployment, FAULTS, {"expiry"})
    print(
        f"\n[expiry] 12,000 records, 400 keys: {injected} ExpiredTokenException answers, "
        f"{dropped} credential drops, {assumed} AssumeRole calls, replicated in {waited:.1f}s; "
        f"{delivery.summary()}"
    )
    assert injected >= 1 and dropped >= 1 and assumed >= 2
    assert delivery.source_records == 12_000
    assert delivery.ok, (delivery.summary(), delivery.lost[:5], delivery.order_violations[:5])


def test_both_directions_enabled_the_two_key_guard_holds(deployment, state_dir):
    """Both replicators' mappings enabled on purpose (boto3, bypassing Terraform) through four
    parameter states. In every state at most one direction writes, and what it writes is never
    copied back while the state holds; refused records stay in their source stream, unconsumed,
    and replicate once both parameters agree on their direction."""
    kin = {env: deployment.client("kinesis", env) for env in ("old", "new")}
    name = {env: deployment.stream_name(LOOP, env) for env in ("old", "new")}
    logs = {env: deployment.function_log(state_dir, env) for env in ("old", "new")}

    def contents() -> dict[str, Counter]:
        """Per stream, how many times each (tag, key, n) is there."""
        out = {}
        for env in ("old", "new"):
            rows = kit.tagged(kit.read_stream(kin[env], name[env]))
            out[env] = Counter(row for shard_rows in rows.values() for row in shard_rows)
        return out

    def tags(counter: Counter) -> Counter:
        return Counter(row[0] for row in counter.elements())

    def refusals() -> dict[str, int]:
        return {env: kit.count_log_messages(logs[env], "loop_guard_refused") for env in logs}

    def flip(old: str, new: str) -> None:
        deployment.set_directions(old=old, new=new)
        time.sleep(GUARD_CACHE_S + 1.0)  # every cached value is now the new one

    put_log: dict[str, set] = {}

    def put(env: str, tag: str, count: int = 120) -> None:
        records = kit.keyed_records(tag, count, 12, seed=len(put_log))
        put_log[tag] = {(r.tag, r.key, r.n) for r in records}
        kit.put_records(kin[env], name[env], records)

    old_to_new_uuid = deployment.set_mapping_enabled("old", LOOP, True)
    try:
        with deployment.runtime(state_dir) as runtime:
            # S0 split: old says old_to_new, new says new_to_old. Both refuse.
            flip(old="old_to_new", new="new_to_old")
            refused = refusals()
            put("new", "A0")
            put("old", "B0")
            time.sleep(GUARD_CACHE_S + 1.0)
            now = contents()
            assert tags(now["old"]) == {"B0": 120}, tags(now["old"])
            assert tags(now["new"]) == {"A0": 120}, tags(now["new"])
            assert all(refusals()[env] > refused[env] for env in logs), refusals()
            print(f"\n[loop] S0 split old=old_to_new/new=new_to_old: both refused {refusals()}")

            # S1 both old_to_new: old→new writes (B0, refused before, and B1); new→old refuses,
            # so nothing old→new wrote into new comes back.
            flip(old="old_to_new", new="old_to_new")
            put("new", "A1")
            put("old", "B1")
            b_tags = {"B0", "B1"}
            kit.wait_for(
                lambda: (
                    tags(contents()["new"])["B1"] >= 120 and tags(contents()["new"])["B0"] >= 120
                ),
                60,
                what="B0 and B1 replicated old→new",
                progress=lambda: str(tags(contents()["new"])),
            )
            time.sleep(GUARD_CACHE_S + 1.0)
            now = contents()
            assert set(tags(now["old"])) == b_tags, tags(now["old"])
            assert all(count == 1 for count in now["old"].values()), "a record came back to old"
            s1 = kit.check_delivery(
                kit.tagged(kit.read_stream(kin["old"], name["old"]), b_tags),
                kit.tagged(kit.read_stream(kin["new"], name["new"]), b_tags),
            )
            assert s1.ok, s1.summary()
            crossed_to_new = Counter({row: n for row, n in now["new"].items() if row[0] in b_tags})
            print(f"[loop] S1 both=old_to_new: old→new only; {s1.summary()}")

            # S2 split the other way: both refuse again.
            flip(old="new_to_old", new="old_to_new")
            put("new", "A2")
            put("old", "B2")
            time.sleep(GUARD_CACHE_S + 1.0)
            later = contents()
            assert tags(later["old"]) == {"B0": 120, "B1": 120, "B2": 120}, tags(later["old"])
            assert tags(later["new"]) == tags(now["new"]) + Counter({"A2": 120})
            print("[loop] S2 split old=new_to_old/new=old_to_new: both refused")

            # S3 both new_to_old (the Terraform state again): A0..A2, refused until now, and A3
            # cross to old; old→new refuses, so none of them comes back and B2 stays in old.
            flip(old="new_to_old", new="new_to_old")
            put("new", "A3")
            a_tags = {"A0", "A1", "A2", "A3"}
            kit.wait_for(
                lambda: all(tags(contents()["old"])[t] >= 120 for t in a_tags),
                60,
                what="A0..A3 replicated new→old",
                progress=lambda: str(tags(contents()["old"])),
            )
            time.sleep(GUARD_CACHE_S + 1.0)
            final = contents()
            s3 = kit.check_delivery(
                kit.tagged(kit.read_stream(kin["new"], name["new"]), a_tags),
                kit.tagged(kit.read_stream(kin["old"], name["old"]), a_tags),
            )
            assert s3.ok, s3.summary()
            # Nothing crossed old→new in S3: new holds A0..A3 once and the S1 copies only.
            assert {row: n for row, n in final["new"].items() if row[0] in a_tags} == {
                row: 1 for tag in a_tags for row in put_log[tag]
            }
            assert Counter({r: n for r, n in final["new"].items() if r[0] in b_tags}) == (
                crossed_to_new
            )
            assert "B2" not in tags(final["new"])
            # The reversal: what old→new wrote in S1 is in new's stream, so new→old, reading new
            # from where it stopped, copies it back once. It is the only record in old that is
            # there more than once, and it is there exactly 1 + (copies in new) times.
            returned = Counter()
            for row, n in final["old"].items():
                if row[0] in b_tags:
                    assert n == 1 + crossed_to_new[row], (row, n, crossed_to_new[row])
                    returned[row[0]] += n - 1
            print(
                f"[loop] S3 both=new_to_old: new→old only; {s3.summary()}; after the reversal "
                f"{dict(returned)} records that old→new wrote in S1 were copied back once"
            )
            # B2 was refused throughout: the old→new mapping's checkpoint is before it.
            old_rows = kit.read_stream(kin["old"], name["old"])
            (shard,) = old_rows
            first_b2 = min(
                int(r["SequenceNumber"])
                for r in old_rows[shard]
                if (kit.parse(r["Data"]) or ("",))[0] == "B2"
            )
            position = runtime.mapping_positions(old_to_new_uuid)[shard]
            assert position is not None and int(position) < first_b2, (position, first_b2)
            print(f"[loop] B2 unconsumed in old: old→new checkpoint {position} < {first_b2}")
    finally:
        deployment.set_mapping_enabled("old", LOOP, False)
        deployment.set_directions(old="new_to_old", new="new_to_old")


def test_kpl_aggregates_land_in_the_target_shard_of_their_sub_records_and_kcl_keeps_all(
    deployment, state_dir
):
    """A KPL producer aims each aggregate at its sub-records' shard with an ExplicitHashKey,
    which the event source mapping does not pass on; under an outer partition key that hashes
    to the other shard. The deployed replicator puts each at its first sub-record's hash key,
    so KCL's de-aggregation of the target's shards (same ranges as the source's) keeps every
    sub-record (https://docs.aws.amazon.com/streams/latest/dev/kinesis-kpl-consumer-deaggregation.html)."""
    kinesis = {env: deployment.client("kinesis", env) for env in ("old", "new")}
    source_name = deployment.stream_name(FAULTS, "new")
    shards = kinesis["new"].list_shards(StreamName=source_name)["Shards"]
    assert len(shards) == 2
    ranges = [
        (int(s["HashKeyRange"]["StartingHashKey"]), int(s["HashKeyRange"]["EndingHashKey"]))
        for s in shards
    ]

    def key_in(index: int, prefix: str) -> str:
        low, high = ranges[index]
        return next(
            f"{prefix}-{n}"
            for n in range(100_000)
            if low <= kpl.partition_key_hash(f"{prefix}-{n}") <= high
        )

    sub_records: set[bytes] = set()
    for n in range(60):
        aimed = n % 2  # the shard whose range holds the sub-records
        subs = [
            kpl.UserRecord(key_in(aimed, f"kpl-{n}-{s}"), f"kpl|{n}|{s}".encode()) for s in range(5)
        ]
        sub_records.update(sub.data for sub in subs)
        kinesis["new"].put_record(
            StreamName=source_name,
            Data=kpl.aggregate(subs),
            PartitionKey=key_in(1 - aimed, f"outer-{n}"),
            ExplicitHashKey=str(subs[0].hash_key),
        )
    with deployment.runtime(state_dir):
        source = kit.read_stream(kinesis["new"], source_name)
        _wait_replicated(deployment, FAULTS, source, timeout=120)

    target_name = deployment.stream_name(FAULTS, "old")
    target_shards = kinesis["old"].list_shards(StreamName=target_name)["Shards"]
    assert [s["HashKeyRange"] for s in target_shards] == [s["HashKeyRange"] for s in shards]
    target = kit.read_stream(kinesis["old"], target_name)
    kept: list[bytes] = []
    for shard in target_shards:
        low = int(shard["HashKeyRange"]["StartingHashKey"])
        high = int(shard["HashKeyRange"]["EndingHashKey"])
        for record in target[shard["ShardId"]]:
            if record["Data"].startswith(AGGREGATE_MAGIC):
                subs = kpl.deaggregate(record["PartitionKey"], record["Data"], low, high)
                kept.extend(sub.data for sub in subs)
    print(f"\n[kpl] 60 aggregates of 5 sub-records: {len(set(kept))} sub-records kept by KCL")
    assert set(kept) == sub_records, f"{len(sub_records - set(kept))} sub-records dropped by KCL"


def _settled(lam, uuid: str) -> dict:
    """The mapping once its state has stopped changing (AWS updates mappings asynchronously)."""
    mapping: dict = {}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        mapping = lam.get_event_source_mapping(UUID=uuid)
        if mapping["State"] in ("Enabled", "Disabled"):
            return mapping
        time.sleep(0.5)
    raise AssertionError(f"mapping {uuid} still {mapping.get('State')} after 60 s")


def test_a_replicator_mapping_that_discards_after_finite_retries_loses_what_the_spec_refuses(
    deployment, state_dir, tmp_path
):
    """Preflight check 2 (`replicator-retries`) taken away: the replicator's mapping is given
    MaximumRetryAttempts 1 out of band (what Terraform would apply from a spec that allowed it)
    while the function fails after writing the first half of every batch. After one retry the
    mapping discards the batch (its metadata goes to the on-failure queue) and checkpoints past
    it: the unwritten halves never reach the target. With the check, the spec asking for it is
    refused when it is loaded, naming the field."""
    lam = deployment.client("lambda", "new")
    uuid = deployment.mapping_uuid("new", FAULTS)
    before = _settled(lam, uuid)
    kinesis = deployment.client("kinesis", "new")
    records = kit.keyed_records("discard", 600, 60, seed=5)
    lam.update_event_source_mapping(
        UUID=uuid, MaximumRetryAttempts=1, BisectBatchOnFunctionError=False
    )
    _settled(lam, uuid)
    deployment.deploy_code("new", kit.chaos_files(every=1, max_raises=10_000), "chaos.handler")
    try:
        kit.put_records(kinesis, deployment.stream_name(FAULTS, "new"), records)
        source = kit.read_stream(kinesis, deployment.stream_name(FAULTS, "new"))
        ends = kit.shard_ends(source)
        with deployment.runtime(state_dir) as runtime:
            kit.wait_for(
                lambda: all(
                    int(runtime.mapping_positions(uuid).get(shard) or 0) >= int(last)
                    for shard, last in ends.items()
                ),
                180,
                what="the mapping's checkpoints past the failing batches",
            )
    finally:
        deployment.restore_code("new")
        lam.update_event_source_mapping(
            UUID=uuid,
            MaximumRetryAttempts=before.get("MaximumRetryAttempts", -1),
            BisectBatchOnFunctionError=before.get("BisectBatchOnFunctionError", True),
        )
        _settled(lam, uuid)
    _, _, delivery = _source_and_target(deployment, FAULTS, {"discard"})
    queue_arn = before["DestinationConfig"]["OnFailure"]["Destination"]
    sqs = deployment.client("sqs", "new")
    queue = sqs.get_queue_url(QueueName=queue_arn.rsplit(":", 1)[-1])["QueueUrl"]
    discarded = int(
        sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["ApproximateNumberOfMessages"])[
            "Attributes"
        ]["ApproximateNumberOfMessages"]
    )
    print(
        f"\n[discard] 600 records, MaximumRetryAttempts 1: {len(delivery.lost)} lost, "
        f"{discarded} batch(es) described in the on-failure queue; {delivery.summary()}"
    )
    assert delivery.source_records == 600
    assert delivery.lost, "a mapping that discards must lose the unwritten half of its batches"
    assert discarded >= 1

    spec = yaml.safe_load(kit.SPEC_PATH.read_text())
    spec["replication"]["retry"] = {"maximum_attempts": 1}
    finite = tmp_path / "finite-retries.yaml"
    finite.write_text(yaml.safe_dump(spec))
    with pytest.raises(SpecError) as refused:
        load_spec(finite)
    assert "field 'replication.retry.maximum_attempts'" in str(refused.value)
    assert "Lambda discards the batch" in str(refused.value)
