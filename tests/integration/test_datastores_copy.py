"""Data store copies on the emulator (real boto3 over HTTP, real S3 and DynamoDB APIs): an S3
bucket copied server-side, with its larger objects in parts, verified object by object with a
manifest, incremental on a second run; a DynamoDB table copied by parallel scan segments and
verified by count and checksum; both killed (SIGKILL of the copying process) mid-copy and
resumed without copying again what was done; and the bad inputs (an unknown bucket, a table the
credentials cannot read) refused in one paragraph with nothing written."""

from __future__ import annotations

import json
import os
import signal

import pytest
from datastores_kit import (
    MIB,
    checkpoint_item,
    create_buckets,
    create_table,
    fill_table,
    hook_context,
    listing,
    make_spec,
    prepare_control_plane,
    put_multipart,
    requests_served,
    start_copy_process,
    table_items,
    unique,
    wait_for,
)

from turnout.datastores.checksum import item_digest
from turnout.datastores.dynamodb_verify import verify_dynamodb
from turnout.datastores.run import copy_store
from turnout.hooks import HookFailed
from turnout.sandbox.chaos.api_faults import set_faults

pytestmark = pytest.mark.integration


def s3_store(source: str, target: str, **options) -> dict:
    return {
        "kind": "s3",
        "name": "assets",
        "source": source,
        "target": target,
        "multipart_threshold_mib": 8,
        "part_size_mib": 5,
        "parallelism": 4,
        **options,
    }


@pytest.fixture
def buckets(emulator):
    source, target = unique("src"), unique("dst")
    create_buckets(emulator, source, target)
    old = emulator.client("s3", "old")
    for number in range(40):
        old.put_object(
            Bucket=source,
            Key=f"in/docs/{number:03d}.json",
            Body=json.dumps({"n": number}).encode(),
            ContentType="application/json",
            Metadata={"origin": "test"},
        )
    old.put_object(Bucket=source, Key="in/big/single.bin", Body=b"s" * (12 * MIB))
    put_multipart(old, source, "in/big/parts.bin", [5 * MIB, 5 * MIB, 3 * MIB], b"p")
    old.put_object(Bucket=source, Key="outside/prefix.txt", Body=b"not copied")
    return source, target


def test_s3_copy_is_server_side_multipart_above_the_threshold_and_verified(
    emulator, buckets, tmp_path
):
    source, target = buckets
    spec = make_spec(emulator, [s3_store(f"{source}/in/", f"{target}/copy/")])
    prepare_control_plane(emulator, spec)
    parts_before = requests_served(emulator, f"s3 PUT /{target}/copy")
    source_before = listing(emulator.client("s3", "old"), source)
    result = copy_store(hook_context(emulator, spec, tmp_path), "assets")
    assert listing(emulator.client("s3", "old"), source) == source_before, "old is only read"
    assert result["copy"]["copied"] == 42 and result["copy"]["identical"] == 0
    verification = result["verification"]
    assert verification["source_objects"] == verification["target_objects"] == 42
    assert verification["matched"] == 42 and verification["differences"] == 0
    # 40 CopyObject + 2 x 3 UploadPartCopy, every one a PUT on the target: no byte through us
    assert requests_served(emulator, f"s3 PUT /{target}/copy") - parts_before == 46
    new = emulator.client("s3", "new")
    copied = listing(new, target, "copy/")
    assert "copy/outside/prefix.txt" not in copied and len(copied) == 42
    head = new.head_object(Bucket=target, Key="copy/docs/007.json")
    assert head["ContentType"] == "application/json" and head["Metadata"] == {"origin": "test"}
    big = new.get_object(Bucket=target, Key="copy/big/parts.bin")
    assert big["ContentLength"] == 13 * MIB and big["Body"].read() == b"p" * (13 * MIB)
    manifest = (tmp_path / "datastores/assets/manifest.ndjson").read_text().splitlines()
    assert json.loads(manifest[0])["source"] == f"s3://{source}/in/"
    assert json.loads(manifest[-1])["summary"]["matched"] == 42 and len(manifest) == 44
    in_bucket = new.get_object(Bucket=target, Key=verification["manifest_s3"].split("/", 3)[3])
    assert in_bucket["Body"].read().decode().splitlines() == manifest


def test_a_second_s3_copy_copies_only_what_changed(emulator, buckets, tmp_path):
    source, target = buckets
    spec = make_spec(emulator, [s3_store(f"{source}/in/", f"{target}/copy/")])
    prepare_control_plane(emulator, spec)
    context = hook_context(emulator, spec, tmp_path)
    copy_store(context, "assets")
    again = copy_store(context, "assets")
    assert again["copy"]["this_run"] == {"identical": 42}, "multipart copies match by marker"
    old = emulator.client("s3", "old")
    old.put_object(Bucket=source, Key="in/docs/003.json", Body=b'{"n": "changed"}')
    old.put_object(Bucket=source, Key="in/docs/new.json", Body=b"{}")
    third = copy_store(context, "assets")
    assert third["copy"]["this_run"]["copied"] == 2
    assert third["copy"]["this_run"]["identical"] == 41
    assert third["verification"]["differences"] == 0


def test_the_s3_verification_lists_what_differs_and_never_deletes(emulator, buckets, tmp_path):
    source, target = buckets
    spec = make_spec(emulator, [s3_store(f"{source}/in/", f"{target}/copy/")])
    prepare_control_plane(emulator, spec)
    context = hook_context(emulator, spec, tmp_path)
    copy_store(context, "assets")
    emulator.client("s3", "new").put_object(Bucket=target, Key="copy/stray.txt", Body=b"mine")
    with pytest.raises(HookFailed) as refused:
        copy_store(context, "assets")
    message = str(refused.value)
    assert "1 only in the target (first: stray.txt)" in message
    assert "turnout never deletes in the target" in message and "\n" not in message
    assert "copy/stray.txt" in listing(emulator.client("s3", "new"), target, "copy/")
    assert (
        checkpoint_item(emulator.client("dynamodb", "old"), spec, "assets")["status"] == "copying"
    )


def test_an_s3_copy_killed_midway_resumes_without_copying_done_objects_again(emulator, tmp_path):
    source, target = unique("ksrc"), unique("kdst")
    create_buckets(emulator, source, target)
    old = emulator.client("s3", "old")
    for number in range(120):
        old.put_object(Bucket=source, Key=f"k/{number:04d}", Body=f"object {number}".encode())
    spec = make_spec(
        emulator, [s3_store(source, target, parallelism=2, max_requests_per_second=15)]
    )
    prepare_control_plane(emulator, spec)
    copies = f"s3 PUT /{target}/k"
    before = requests_served(emulator, copies)
    child = start_copy_process(emulator, spec, "assets", tmp_path)
    try:
        wait_for(
            lambda: (
                (checkpoint_item(emulator.client("dynamodb", "old"), spec, "assets") or {})
                .get("progress", {})
                .get("copied", 0)
                >= 30
            ),
            timeout=60,
            what="30 objects copied by the child",
        )
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
    at_kill = len(listing(emulator.client("s3", "new"), target))
    checkpoint = checkpoint_item(emulator.client("dynamodb", "old"), spec, "assets")
    assert checkpoint["status"] == "copying" and 30 <= at_kill < 120
    resumed = copy_store(hook_context(emulator, spec, tmp_path), "assets")
    assert resumed["resumed"] is True
    assert resumed["copy"]["this_run"]["copied"] == 120 - at_kill, "only the rest is copied"
    assert resumed["verification"]["matched"] == 120
    issued = requests_served(emulator, copies) - before
    assert issued <= 120 + 2, f"{issued} copies for 120 objects: at most the 2 in flight repeat"


def test_a_multipart_copy_killed_between_parts_resumes_from_its_finished_parts(emulator, tmp_path):
    source, target = unique("msrc"), unique("mdst")
    create_buckets(emulator, source, target)
    emulator.client("s3", "old").put_object(Bucket=source, Key="movie.bin", Body=b"m" * (40 * MIB))
    spec = make_spec(
        emulator,
        [s3_store(source, target, parallelism=1, part_size_mib=5, max_requests_per_second=2)],
    )
    prepare_control_plane(emulator, spec)
    new = emulator.client("s3", "new")
    child = start_copy_process(emulator, spec, "assets", tmp_path)
    try:

        def parts_done() -> int:
            uploads = (
                checkpoint_item(emulator.client("dynamodb", "old"), spec, "assets") or {}
            ).get("progress", {})
            record = uploads.get("uploads", {}).get("movie.bin")
            if not record:
                return 0
            answer = new.list_parts(Bucket=target, Key="movie.bin", UploadId=record["upload_id"])
            return len(answer.get("Parts", []))

        wait_for(lambda: parts_done() >= 3, timeout=60, what="3 parts copied")
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
    parts_before = requests_served(emulator, f"s3 PUT /{target}/movie.bin")
    result = copy_store(hook_context(emulator, spec, tmp_path), "assets")
    assert result["copy"]["this_run"]["parts_resumed"] >= 3
    parts_after = requests_served(emulator, f"s3 PUT /{target}/movie.bin") - parts_before
    assert parts_after == 8 - result["copy"]["this_run"]["parts_resumed"]
    assert new.get_object(Bucket=target, Key="movie.bin")["Body"].read() == b"m" * (40 * MIB)


def dynamodb_store(source: str, target: str, **options) -> dict:
    return {"kind": "dynamodb", "name": "profiles", "source": source, "target": target, **options}


def test_a_dynamodb_copy_is_verified_by_count_and_checksum(emulator, tmp_path):
    source, target = unique("tsrc"), unique("tdst")
    create_table(emulator, "old", source)
    create_table(emulator, "new", target)
    fill_table(emulator, "old", source, 300)
    spec = make_spec(emulator, [dynamodb_store(source, target, segments=3, page_size=50)])
    prepare_control_plane(emulator, spec)
    source_before = sorted(map(item_digest, table_items(emulator, "old", source)))
    result = copy_store(hook_context(emulator, spec, tmp_path), "profiles")
    verification = result["verification"]
    assert result["copy"]["items_written"] == 300
    assert sorted(map(item_digest, table_items(emulator, "old", source))) == source_before
    assert verification["source_items"] == verification["target_items"] == 300
    assert verification["source_checksum"] == verification["target_checksum"]
    assert sorted(map(item_digest, table_items(emulator, "new", target))) == sorted(
        map(item_digest, table_items(emulator, "old", source))
    ), "every attribute of every item, all DynamoDB types"
    ddb = emulator.client("dynamodb", "new")
    ddb.delete_item(TableName=target, Key={"user": {"S": "user-003"}, "at": {"N": "1700000003"}})
    ddb.put_item(TableName=target, Item={"user": {"S": "stray"}, "at": {"N": "1"}})
    summary = verify_dynamodb(
        emulator.client("dynamodb", "old"), ddb, spec.data_stores[0], lambda line: None
    )
    assert (summary["missing"], summary["extra"], summary["changed"]) == (1, 1, 0)
    assert summary["samples"]["missing"] == ['{"at":{"N":"1700000003"},"user":{"S":"user-003"}}']
    assert summary["source_checksum"] != summary["target_checksum"]


def test_a_dynamodb_copy_killed_midway_writes_only_the_rest_on_resume(emulator, tmp_path):
    source, target = unique("ksrc"), unique("kdst")
    create_table(emulator, "old", source)
    create_table(emulator, "new", target)
    fill_table(emulator, "old", source, 600)
    spec = make_spec(
        emulator,
        [dynamodb_store(source, target, segments=2, page_size=50, max_write_items_per_second=60)],
    )
    prepare_control_plane(emulator, spec)
    child = start_copy_process(emulator, spec, "profiles", tmp_path)
    try:

        def written() -> int:
            progress = (
                checkpoint_item(emulator.client("dynamodb", "old"), spec, "profiles") or {}
            ).get("progress", {})
            return sum(p["items"] for p in progress.get("positions", {}).values())

        wait_for(lambda: written() >= 150, timeout=60, what="150 items written by the child")
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
    done = written()
    assert done < 600
    result = copy_store(hook_context(emulator, spec, tmp_path), "profiles")
    assert result["resumed"] is True
    assert result["copy"]["this_run"]["items_written"] == 600 - done, (
        "each segment resumes after its last written page: nothing done is read or written again"
    )
    assert result["verification"]["target_items"] == 600
    assert result["verification"]["source_checksum"] == result["verification"]["target_checksum"]


def test_an_unknown_bucket_is_one_paragraph_and_nothing_is_written(emulator, tmp_path):
    target = unique("dst")
    create_buckets(emulator, unique("unused"), target)
    spec = make_spec(emulator, [s3_store("no-such-bucket-at-all", target)])
    prepare_control_plane(emulator, spec)
    with pytest.raises(HookFailed) as refused:
        copy_store(hook_context(emulator, spec, tmp_path), "assets")
    message = str(refused.value)
    assert (
        "data_stores[0].source" in message and "'no-such-bucket-at-all' does not exist" in message
    )
    assert "\n" not in message and "Traceback" not in message
    assert listing(emulator.client("s3", "new"), target) == {}
    assert checkpoint_item(emulator.client("dynamodb", "old"), spec, "assets") is None


def test_a_table_the_credentials_cannot_read_is_one_paragraph_and_nothing_is_written(
    emulator, tmp_path
):
    source, target = unique("dsrc"), unique("ddst")
    create_table(emulator, "old", source)
    create_table(emulator, "new", target)
    fill_table(emulator, "old", source, 30)
    spec = make_spec(emulator, [dynamodb_store(source, target)])
    prepare_control_plane(emulator, spec)
    # moto evaluates no IAM policy: the emulator answers Scan on this table as AWS answers a
    # caller no policy allows (AccessDeniedException), everything else as usual.
    set_faults(emulator.endpoint_url, [{"operation": "dynamodb Scan", "deny_resource": source}])
    try:
        with pytest.raises(HookFailed) as refused:
            copy_store(hook_context(emulator, spec, tmp_path), "profiles")
    finally:
        set_faults(emulator.endpoint_url, [])
    message = str(refused.value)
    assert "data_stores[0].source" in message and f"may not read table '{source}'" in message
    assert "AccessDeniedException" in message and "dynamodb:Scan" in message
    assert "\n" not in message
    assert table_items(emulator, "new", target) == []
    assert checkpoint_item(emulator.client("dynamodb", "old"), spec, "profiles") is None
