"""The local AWS emulator: start/stop by PID, accounts, and moto's Lambda execution kept
neutralised."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import sys
import time
import urllib.request
import zipfile

import pytest

from turnout.sandbox.emulator.launcher import Emulator, EmulatorError

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def test_each_account_sees_only_its_own_resources(emulator, aws_client, lambda_kit):
    assert aws_client("sts", "old").get_caller_identity()["Account"] == "111111111111"
    assert aws_client("sts", "new").get_caller_identity()["Account"] == "222222222222"
    name = lambda_kit.name("isolated")
    arn = lambda_kit.stream("old", name=name)
    assert arn == f"arn:aws:kinesis:eu-west-1:111111111111:stream/{name}"
    assert name in _all_stream_names(aws_client("kinesis", "old"))
    assert name not in _all_stream_names(aws_client("kinesis", "new"))
    session = emulator.session("222222222222")
    sts = session.client("sts", endpoint_url=emulator.endpoint_url)
    assert sts.get_caller_identity()["Account"] == "222222222222"


def _all_stream_names(kinesis) -> list[str]:
    """Every stream of the account: ListStreams returns 10 by default, and other tests of the
    session may have created more. Paged with ``ExclusiveStartStreamName`` (moto answers
    ``HasMoreStreams`` but no ``NextToken``, so botocore's paginator cannot be used)."""
    names: list[str] = []
    kwargs: dict[str, object] = {"Limit": 100}
    for _ in range(1000):
        page = kinesis.list_streams(**kwargs)
        names += page["StreamNames"]
        if not page.get("HasMoreStreams") or not page["StreamNames"]:
            return names
        kwargs["ExclusiveStartStreamName"] = page["StreamNames"][-1]
    raise AssertionError("ListStreams did not end")


def test_moto_never_runs_function_code_for_stream_records(emulator, lambda_kit):
    """moto would call the function (through Docker) once per record put to a stream with any
    mapping, even a disabled or deleted one. The launcher's patch makes that a counted no-op:
    without it, ``function_code_runs`` rises with every record (checked by removing it)."""
    kit = lambda_kit
    table = kit.table()
    fn = kit.function(table=table)
    streams = [kit.stream(name=kit.name(f"neutral{i}")) for i in range(3)]
    lam = kit.client("lambda")
    kit.mapping("old", fn, streams[0])  # enabled
    kit.mapping("old", fn, streams[1], Enabled=False)  # disabled
    deleted = kit.mapping("old", fn, streams[2])
    lam.delete_event_source_mapping(UUID=deleted)  # deleted: moto still keeps it on the stream
    before = emulator.status()["counters"]
    kinesis = kit.client("kinesis")
    started = time.monotonic()
    for stream in streams:
        for chunk in range(2):
            kinesis.put_records(
                StreamARN=stream,
                Records=[
                    {"Data": f"{chunk}-{i}".encode(), "PartitionKey": str(i)} for i in range(100)
                ],
            )
    for i in range(20):
        kinesis.put_record(StreamARN=streams[0], Data=b"single", PartitionKey=str(i))
    elapsed = time.monotonic() - started
    after = emulator.status()["counters"]
    assert after["function_code_runs"] == before["function_code_runs"]
    assert after["suppressed_kinesis_deliveries"] - before["suppressed_kinesis_deliveries"] == 620
    assert elapsed < 15
    log = emulator.log_path.read_text().lower()
    assert "docker" not in log and "error running" not in log


def test_sqs_queue_with_a_mapping_keeps_its_messages(emulator, lambda_kit):
    kit = lambda_kit
    fn = kit.function(table=kit.table())
    sqs = kit.client("sqs")
    url, arn = kit.queue()
    kit.client("lambda").create_event_source_mapping(FunctionName=fn, EventSourceArn=arn)
    before = emulator.status()["counters"]["function_code_runs"]
    sqs.send_message(QueueUrl=url, MessageBody="hello")
    msgs = sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"]
    )["Messages"]
    assert [m["Body"] for m in msgs] == ["hello"]
    assert msgs[0]["Attributes"]["ApproximateReceiveCount"] == "1"  # not received by moto
    assert emulator.status()["counters"]["function_code_runs"] == before


def test_get_function_code_location_serves_the_deployed_zip(emulator, lambda_kit):
    kit = lambda_kit
    fn = kit.function(table="unused")
    info = kit.client("lambda").get_function(FunctionName=fn)
    location = info["Code"]["Location"]
    assert location.startswith(emulator.endpoint_url + "/")
    with urllib.request.urlopen(location, timeout=10) as resp:
        body = resp.read()
    digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
    assert digest == info["Configuration"]["CodeSha256"]
    assert zipfile.ZipFile(io.BytesIO(body)).namelist() == ["recorder.py"]


def test_mapping_returns_its_starting_position_timestamp(lambda_kit):
    kit = lambda_kit
    fn = kit.function(table="unused")
    stream = kit.stream()
    at = int(time.time()) - 60
    uuid = kit.mapping(
        "old", fn, stream, StartingPosition="AT_TIMESTAMP", StartingPositionTimestamp=at
    )
    esm = kit.client("lambda").get_event_source_mapping(UUID=uuid)
    assert esm["StartingPositionTimestamp"].timestamp() == at


def test_attach_reuses_the_running_emulator(emulator):
    attached = Emulator.attach_work_dir(emulator.work_dir)
    assert attached.endpoint_url == emulator.endpoint_url
    assert attached.pid == emulator.pid
    with attached:
        assert attached.client("sts", "new").get_caller_identity()["Account"] == "222222222222"
    assert emulator.is_running()  # leaving the block of an attached emulator does not stop it
    by_pid_file = Emulator.attach(emulator.endpoint_url, emulator.pid_file)
    assert by_pid_file.is_running()


def test_start_and_stop_by_pid(tmp_path):
    emu = Emulator(tmp_path / "emu", old_account_id="333333333333")
    with emu:
        pid = emu.pid
        assert int(emu.pid_file.read_text().split()[0]) == pid
        assert json.loads(emu.state_file.read_text())["pid"] == pid
        assert emu.client("sts", "old").get_caller_identity()["Account"] == "333333333333"
    assert not emu.pid_file.exists()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_a_server_that_cannot_start_fails_loudly_with_its_log(tmp_path):
    script = tmp_path / "broken.py"
    script.write_text("import sys\nprint('boom: no moto here', file=sys.stderr)\nsys.exit(3)\n")
    emu = Emulator(tmp_path / "emu", python=sys.executable, startup_timeout=10)
    emu.python = str(tmp_path / "python-shim")
    shim = tmp_path / "python-shim"
    shim.write_text(f"#!/bin/sh\nexec {sys.executable} {script}\n")
    shim.chmod(0o755)
    with pytest.raises(EmulatorError, match="boom: no moto here"):
        emu.start()
    assert emu.pid is None


def test_list_mappings_by_function_name_finds_mappings_created_with_its_arn(lambda_kit):
    kit = lambda_kit
    fn = kit.function(table="unused")
    uuid = kit.mapping("old", fn, kit.stream())  # created with the ARN, as Terraform does
    lam = kit.client("lambda")
    for name in (fn.split(":")[-1], fn):
        found = lam.list_event_source_mappings(FunctionName=name)["EventSourceMappings"]
        assert [m["UUID"] for m in found] == [uuid]


def _read_until_quiet(sock, quiet: float = 0.5) -> bytes:
    sock.settimeout(quiet)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except TimeoutError:
        pass
    return data


def test_connections_are_kept_alive_and_requests_delimited(emulator):
    """One TCP connection serves many requests (HTTP/1.1 keep-alive): a body the application
    leaves unread, plain or chunked, is drained exactly, so the request after it is intact; an
    HTTP/1.0 request without keep-alive gets its answer and the connection closed."""
    import http.client
    import socket

    conn = http.client.HTTPConnection(emulator.host, emulator.port, timeout=10)
    conn.request("GET", "/_turnout/health")
    first = conn.getresponse()
    assert first.status == 200 and json.loads(first.read())["status"] == "ok"
    sock = conn.sock
    for path, status in [("/_turnout/status", 200), ("/_turnout/nothing", 404)]:
        conn.request("GET", path)
        resp = conn.getresponse()
        resp.read()
        assert resp.status == status
        assert resp.getheader("Connection") is None
        assert conn.sock is sock  # the same connection
    conn.close()

    body = b"x" * 200_000  # not read by the health endpoint
    with socket.create_connection((emulator.host, emulator.port), timeout=10) as raw:
        raw.sendall(
            b"POST /_turnout/health HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n%s"
            b"POST /_turnout/health HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5\r\nhello\r\n0\r\n\r\n"
            b"GET /_turnout/status HTTP/1.1\r\nHost: a\r\n\r\n" % (len(body), body)
        )
        answers = _read_until_quiet(raw)
    assert answers.count(b"HTTP/1.1 200 OK\r\n") == 3, answers[:500]
    assert answers.rstrip().endswith(b"}}") and b'"counters"' in answers

    with socket.create_connection((emulator.host, emulator.port), timeout=10) as raw:
        raw.sendall(b"GET /_turnout/health HTTP/1.0\r\n\r\n")
        raw.settimeout(10)
        data = b""
        while chunk := raw.recv(65536):  # ends: the server closes the connection
            data += chunk
    assert data.startswith(b"HTTP/1.1 200 OK") and data.endswith(b'"pid": %d}' % emulator.pid)


def test_idle_keep_alive_connections_do_not_delay_stopping(tmp_path):
    import socket

    emu = Emulator(tmp_path / "emu")
    with emu:
        pid = emu.pid
        idle = [socket.create_connection((emu.host, emu.port), timeout=5) for _ in range(3)]
        for sock in idle:
            sock.sendall(b"GET /_turnout/health HTTP/1.1\r\nHost: a\r\n\r\n")
            assert sock.recv(65536).startswith(b"HTTP/1.1 200")
        started = time.monotonic()
    try:
        assert time.monotonic() - started < 4  # SIGTERM sufficed (SIGKILL comes after 5 s)
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    finally:
        for sock in idle:
            sock.close()


def compare_with_motos_serializer(monkeypatch, operation: str, write) -> list[int]:
    """Patch moto's Kinesis `operation` so that every answer is also written by `write` and
    compared with moto's own serializer; returns the record counts of the answers compared."""
    from moto.kinesis.responses import KinesisResponse

    original = getattr(KinesisResponse, operation)
    compared: list[int] = []

    def answer(self):
        result = original(self)
        fast = write(result)
        _, headers, body = self.serialized(result)
        assert fast == body
        assert headers["Content-Type"] == "application/x-amz-json-1.1"
        compared.append(len(result.result["Records"]))
        return result

    monkeypatch.setattr(KinesisResponse, operation, answer)
    return compared


def test_put_records_answer_is_the_bytes_of_motos_serializer(monkeypatch):
    """The launcher writes PutRecords' answer with json.dumps; moto's serializer must agree."""
    import boto3
    from moto import mock_aws

    from turnout.sandbox.emulator.kinesis_answers import put_records_json

    compared = compare_with_motos_serializer(monkeypatch, "put_records", put_records_json)
    with mock_aws():
        kinesis = boto3.client("kinesis", region_name="eu-west-1")
        kinesis.create_stream(StreamName="fast-answer", ShardCount=4)
        for n in (1, 72, 500):
            kinesis.put_records(
                StreamName="fast-answer",
                Records=[
                    {"Data": os.urandom(i % 50 + 1), "PartitionKey": f"k-{i}"} for i in range(n)
                ],
            )
    assert compared == [1, 72, 500]


def test_get_records_answer_is_the_bytes_of_motos_serializer(monkeypatch):
    """The launcher writes GetRecords' answer with json.dumps; moto's serializer must agree:
    an empty read, partial and last pages, binary data, arrival times with and without
    milliseconds."""
    import boto3
    from moto import mock_aws
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.kinesis.models import kinesis_backends

    from turnout.sandbox.emulator.kinesis_answers import get_records_json

    compared = compare_with_motos_serializer(monkeypatch, "get_records", get_records_json)
    with mock_aws():
        kinesis = boto3.client("kinesis", region_name="eu-west-1")
        kinesis.create_stream(StreamName="fast-read", ShardCount=1)
        iterator = kinesis.get_shard_iterator(
            StreamName="fast-read", ShardId="shardId-000000000000", ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        iterator = kinesis.get_records(ShardIterator=iterator)["NextShardIterator"]
        kinesis.put_records(
            StreamName="fast-read",
            Records=[
                {"Data": os.urandom(i % 50 + 1), "PartitionKey": f"k-{i}"} for i in range(300)
            ],
        )
        shard = (
            kinesis_backends[DEFAULT_ACCOUNT_ID]["eu-west-1"]
            .streams["fast-read"]
            .shards["shardId-000000000000"]
        )
        for record in list(shard.records.values())[::7]:  # on a whole second
            record.created_at_datetime = record.created_at_datetime.replace(microsecond=0)
        page = kinesis.get_records(ShardIterator=iterator, Limit=120)
        last = kinesis.get_records(ShardIterator=page["NextShardIterator"], Limit=500)
    assert compared == [0, 120, 180]
    assert last["MillisBehindLatest"] == 0


def keyed_table(name: str):
    """A DynamoDB client (inside mock_aws) and a table `name` keyed by a string `k` and a
    number `n`."""
    import boto3

    ddb = boto3.client("dynamodb", region_name="eu-west-1")
    ddb.create_table(
        TableName=name,
        KeySchema=[
            {"AttributeName": "k", "KeyType": "HASH"},
            {"AttributeName": "n", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "k", "AttributeType": "S"},
            {"AttributeName": "n", "AttributeType": "N"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    return ddb


def test_scan_and_query_answers_written_with_json_parse_like_motos_serializer(monkeypatch):
    """The launcher writes plain Scan and Query answers with json.dumps; they must parse to what
    moto's serializer writes, and an answer with a binary attribute must be left to moto."""
    from moto import mock_aws
    from moto.dynamodb.responses import DynamoHandler

    from turnout.sandbox.emulator.dynamodb_reads import read_answer_json

    compared: list[tuple[str, int, bool]] = []

    def comparing(operation):
        original = getattr(DynamoHandler, operation)

        def answer(self):
            result = original(self)
            fast = read_answer_json(result)
            _, _, body = self.serialized(result)
            if fast is not None:
                assert json.loads(fast) == json.loads(body)
            compared.append((operation, json.loads(body).get("Count", -1), fast is not None))
            return result

        monkeypatch.setattr(DynamoHandler, operation, answer)

    comparing("scan")
    comparing("query")
    with mock_aws():
        ddb = keyed_table("answers")
        for n in range(30):
            ddb.put_item(
                TableName="answers",
                Item={
                    "k": {"S": f"key-{n % 3}"},
                    "n": {"N": str(n)},
                    "price": {"N": "12.50"},
                    "ok": {"BOOL": n % 2 == 0},
                    "none": {"NULL": True},
                    "tags": {"SS": ["a", "b"]},
                    "sizes": {"NS": ["1", "2.5"]},
                    "nested": {"M": {"list": {"L": [{"S": "x"}, {"N": "3"}]}}},
                },
            )
        ddb.scan(TableName="answers", ReturnConsumedCapacity="TOTAL")
        ddb.scan(TableName="answers", Limit=7)
        ddb.query(
            TableName="answers",
            KeyConditionExpression="k = :k AND n > :n",
            ExpressionAttributeValues={":k": {"S": "key-1"}, ":n": {"N": "5"}},
            ProjectionExpression="k, n, nested.list",
        )
        ddb.put_item(
            TableName="answers", Item={"k": {"S": "bin"}, "n": {"N": "0"}, "b": {"B": b"\x00\xff"}}
        )
        ddb.scan(TableName="answers")
    assert compared == [
        ("scan", 30, True),
        ("scan", 7, True),
        ("query", 8, True),
        ("scan", 31, False),
    ]


def test_item_requests_parsed_with_json_give_motos_parameters(monkeypatch):
    """The launcher parses plain item requests with json.loads; the parameters must be those
    of moto's shape parser, and a request with a binary attribute or of another operation must
    be left to it."""
    from moto import mock_aws
    from moto.dynamodb.responses import DynamoHandler

    from turnout.sandbox.emulator.dynamodb_reads import plain_request

    compared: list[tuple[str, bool]] = []
    original = DynamoHandler.parse_parameters

    def comparing(self, request):
        original(self, request)
        fast = plain_request(self._get_action(), request.data)
        if fast is not None:
            assert fast == self.params
        compared.append((self._get_action(), fast is not None))

    monkeypatch.setattr(DynamoHandler, "parse_parameters", comparing)
    item = {
        "k": {"S": "key-1"},
        "n": {"N": "7"},
        "ok": {"BOOL": False},
        "none": {"NULL": True},
        "tags": {"SS": ["a", "b"]},
        "sizes": {"NS": ["1", "2.5"]},
        "nested": {"M": {"list": {"L": [{"S": "x"}, {"N": "3"}, {"M": {}}]}}},
        "quoted": {"S": 'say "hi" \u00e9'},
    }
    with mock_aws():
        ddb = keyed_table("requests")
        ddb.batch_write_item(RequestItems={"requests": [{"PutRequest": {"Item": item}}]})
        ddb.put_item(TableName="requests", Item={**item, "n": {"N": "8"}}, ReturnValues="NONE")
        ddb.update_item(
            TableName="requests",
            Key={"k": {"S": "key-1"}, "n": {"N": "7"}},
            UpdateExpression="SET #c = if_not_exists(#c, :zero) + :one",
            ExpressionAttributeNames={"#c": "count"},
            ExpressionAttributeValues={":zero": {"N": "0"}, ":one": {"N": "1"}},
            ReturnValues="UPDATED_NEW",
        )
        ddb.query(
            TableName="requests",
            KeyConditionExpression="k = :k AND n >= :n",
            ExpressionAttributeValues={":k": {"S": "key-1"}, ":n": {"N": "5"}},
            Limit=10,
            ScanIndexForward=False,
            ConsistentRead=True,
        )
        ddb.get_item(TableName="requests", Key={"k": {"S": "key-1"}, "n": {"N": "8"}})
        ddb.put_item(
            TableName="requests", Item={"k": {"S": "b"}, "n": {"N": "0"}, "b": {"B": b"1"}}
        )
        ddb.describe_table(TableName="requests")
    assert compared == [
        ("CreateTable", False),
        ("BatchWriteItem", True),
        ("PutItem", True),
        ("UpdateItem", True),
        ("Query", True),
        ("GetItem", True),
        ("PutItem", False),
        ("DescribeTable", False),
    ]


def test_put_records_publish_kinesis_incoming_metrics_per_stream(emulator, lambda_kit):
    """Like AWS's basic stream metrics: `AWS/Kinesis IncomingRecords`/`IncomingBytes` per
    `StreamName`, one sample per PutRecord(s) call (Sum = records, Minimum/Maximum = records of
    one call). The launcher aggregates in memory and writes every few seconds: poll."""
    from datetime import UTC, datetime, timedelta

    name = lambda_kit.name("metered")
    quiet = lambda_kit.name("unmetered")
    lambda_kit.stream("old", name=name)
    lambda_kit.stream("old", name=quiet)
    kinesis = emulator.client("kinesis", "old")
    sizes = 0
    for count in (10, 20, 30):
        records = [{"Data": b"x" * (i + 1), "PartitionKey": f"k{i}"} for i in range(count)]
        kinesis.put_records(StreamName=name, Records=records)
        sizes += sum(len(r["Data"]) + len(r["PartitionKey"]) for r in records)
    kinesis.put_record(StreamName=name, Data=b"single", PartitionKey="one")
    sizes += len(b"single") + len("one")

    def statistics(
        account: str, stream: str, metric: str, period: int = 60, stats: tuple = ()
    ) -> dict[str, float]:
        now = datetime.now(UTC).replace(second=0, microsecond=0)
        found: dict[str, float] = {}
        for stat in stats or ("Sum", "SampleCount", "Minimum", "Maximum"):
            result = emulator.client("cloudwatch", account).get_metric_data(
                MetricDataQueries=[
                    {
                        "Id": "m",
                        "MetricStat": {
                            "Metric": {
                                "Namespace": "AWS/Kinesis",
                                "MetricName": metric,
                                "Dimensions": [{"Name": "StreamName", "Value": stream}],
                            },
                            "Period": period,
                            "Stat": stat,
                        },
                    }
                ],
                StartTime=now - timedelta(minutes=3),
                EndTime=now + timedelta(minutes=2),
            )["MetricDataResults"][0]
            if result["Values"]:  # the calls may straddle a minute: combine the minutes
                combine = {"Minimum": min, "Maximum": max}.get(stat, sum)
                found[stat] = combine(result["Values"])
                stamps.update(result["Timestamps"])
        return found

    stamps: set[datetime] = set()

    deadline = time.monotonic() + 30
    records = statistics("old", name, "IncomingRecords")
    while records.get("Sum") != 61 and time.monotonic() < deadline:
        time.sleep(1)
        records = statistics("old", name, "IncomingRecords")
    assert records == {"Sum": 61, "SampleCount": 4, "Minimum": 1, "Maximum": 30}
    assert statistics("old", name, "IncomingBytes")["Sum"] == sizes
    # 1-minute metrics: asked per second, the datapoints are still stamped with their minute
    stamps.clear()
    assert statistics("old", name, "IncomingRecords", period=1, stats=("Sum",)) == {"Sum": 61}
    assert stamps and all(stamp.second == 0 for stamp in stamps), stamps
    assert statistics("old", quiet, "IncomingRecords") == {}
    assert statistics("new", name, "IncomingRecords") == {}
