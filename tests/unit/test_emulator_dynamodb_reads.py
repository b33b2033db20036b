"""The emulator's DynamoDB tables count and list their items while other request threads write
to them (turnout.sandbox.emulator.dynamodb_reads). moto 5.2.5 iterated the live item dict and
raised "dictionary changed size during iteration", which the server answered with HTTP 500 and
which stopped the sandbox demo (DescribeTable while consumers wrote)."""

from __future__ import annotations

import sys
import threading
import time

import boto3
import pytest
from moto import mock_aws
from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.models.table import Table

from turnout.sandbox.emulator.dynamodb_reads import read_tables_from_snapshots


def _read_errors_while_writing(seconds: float, stop_at_first: bool = False) -> list[str]:
    with mock_aws():
        boto3.client("dynamodb", region_name="eu-west-1").create_table(
            TableName="busy",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        table = dynamodb_backends["123456789012"]["eu-west-1"].get_table("busy")
        errors: list[str] = []
        stop = time.monotonic() + seconds

        def going() -> bool:
            return time.monotonic() < stop and not (stop_at_first and errors)

        def write(worker: int) -> None:
            n = 0
            while going():
                table.put_item({"pk": {"S": f"{worker}-{n}"}})
                n += 1

        def read() -> None:
            while going():
                try:
                    len(table)  # DescribeTable's ItemCount
                    table.all_items()  # Scan and Query
                except RuntimeError as problem:
                    errors.append(str(problem))

        threads = [threading.Thread(target=write, args=(i,)) for i in range(2)]
        threads += [threading.Thread(target=read) for _ in range(2)]
        interval = sys.getswitchinterval()
        sys.setswitchinterval(1e-5)  # threads switch often: the race shows within a second
        try:
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        finally:
            sys.setswitchinterval(interval)
        return errors


def test_tables_are_counted_and_listed_while_other_threads_write(monkeypatch):
    for name in ("__len__", "all_items", "has_idx_items"):
        monkeypatch.setattr(Table, name, getattr(Table, name))  # restored after the test
    read_tables_from_snapshots()
    assert _read_errors_while_writing(3.0) == []


def test_moto_alone_fails_to_read_a_table_being_written():
    """The defect the launcher fixes, with moto 5.2.5 (when a moto upgrade makes this fail,
    the launcher's patch can go)."""
    errors = _read_errors_while_writing(20.0, stop_at_first=True)  # usually within a second
    assert errors and "dictionary changed size during iteration" in errors[0]


def test_an_item_is_sized_once_and_stored_as_moto_stores_it(monkeypatch):
    """size_items_once: the same attributes and the same refusal of an item over moto's limit,
    with one size computation per attribute (moto: one per attribute already stored, on each
    insertion)."""
    from moto.dynamodb.exceptions import ItemSizeTooLarge
    from moto.dynamodb.models.dynamo_type import DynamoType, Item

    from turnout.sandbox.emulator.dynamodb_reads import size_items_once

    attrs = {f"a{i}": {"S": "x" * 20} for i in range(15)} | {"n": {"N": "17"}, "pk": {"S": "k"}}
    key = DynamoType({"S": "k"})
    mine = Item(key, None, attrs)  # moto's own, first
    calls = []
    real_size = DynamoType.size
    monkeypatch.setattr(DynamoType, "size", lambda self: calls.append(1) or real_size(self))
    Item(key, None, attrs)
    moto_calls = len(calls)
    monkeypatch.setattr(Item, "__init__", Item.__init__)  # restored after the test
    size_items_once()
    calls.clear()
    sized = Item(key, None, attrs)
    assert sized.attrs == mine.attrs and dict(sized.attrs) == dict(mine.attrs)
    assert len(calls) == len(attrs) < moto_calls
    with pytest.raises(ItemSizeTooLarge):
        Item(key, None, {"pk": {"S": "k"}, "big": {"S": "x" * 406_000}})


def _pages(table_name: str, **arguments) -> list[tuple[list[dict], dict | None]]:
    ddb = boto3.client("dynamodb", region_name="eu-west-1")
    pages, kwargs = [], {"TableName": table_name, **arguments}
    while True:
        page = ddb.scan(**kwargs)
        pages.append((page["Items"], page.get("LastEvaluatedKey")))
        if "LastEvaluatedKey" not in page:
            return pages
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _scans_of_keyed_tables() -> dict[str, list]:
    """Every page of paginated Scans of a string-keyed, a number-keyed and a composite-keyed
    table (numbers that sort differently as text: 9 < 10), with and without a filter."""
    ddb = boto3.client("dynamodb", region_name="eu-west-1")
    schemas = {
        "by_text": ([("pk", "HASH", "S")], lambda i: {"pk": {"S": f"k{i * 7919 % 1000}"}}),
        "by_number": ([("pk", "HASH", "N")], lambda i: {"pk": {"N": str(i * 7919 % 1000)}}),
        "composite": (
            [("pk", "HASH", "S"), ("sk", "RANGE", "N")],
            lambda i: {"pk": {"S": f"k{i % 13}"}, "sk": {"N": str(i * 31 % 997)}},
        ),
    }
    scans = {}
    for name, (keys, key_of) in schemas.items():
        ddb.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": a, "KeyType": k} for a, k, _ in keys],
            AttributeDefinitions=[{"AttributeName": a, "AttributeType": t} for a, _, t in keys],
            BillingMode="PAY_PER_REQUEST",
        )
        for i in range(600):
            ddb.put_item(TableName=name, Item={**key_of(i), "n": {"N": str(i)}})
        scans[name] = _pages(name, Limit=37)
        scans[f"{name} filtered"] = _pages(
            name,
            Limit=50,
            FilterExpression="n < :half",
            ExpressionAttributeValues={":half": {"N": "300"}},
        )
    return scans


def test_a_paginated_scan_gives_moto_s_pages_when_pages_start_by_bisection(monkeypatch):
    """scan_pages_from_their_start: the same items, order and LastEvaluatedKey on every page as
    moto's own walk (which costs the whole table per page)."""
    from turnout.sandbox.emulator.dynamodb_reads import scan_pages_from_their_start

    for name in ("__len__", "all_items", "has_idx_items", "scan"):
        monkeypatch.setattr(Table, name, getattr(Table, name))  # restored after the test
    with mock_aws():
        by_moto = _scans_of_keyed_tables()
    read_tables_from_snapshots()
    scan_pages_from_their_start()
    with mock_aws():
        by_bisection = _scans_of_keyed_tables()
    assert by_bisection == by_moto
    assert all(len(pages) > 5 for pages in by_moto.values())


def test_a_scan_page_skips_the_earlier_pages_without_comparing_them(monkeypatch):
    """A page deep in the table is found without moto's item-by-item comparison with the start
    key: switched off (moto's walk), the comparisons grow with the table."""
    from turnout.sandbox.emulator.dynamodb_reads import scan_pages_from_their_start

    for name in ("__len__", "all_items", "has_idx_items", "scan", "_item_comes_before_dct"):
        monkeypatch.setattr(Table, name, getattr(Table, name))
    read_tables_from_snapshots()
    scan_pages_from_their_start()
    compared = []
    original = Table._item_comes_before_dct
    monkeypatch.setattr(
        Table,
        "_item_comes_before_dct",
        lambda self, *args: compared.append(1) or original(self, *args),
    )
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="eu-west-1")
        ddb.create_table(
            TableName="deep",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        for i in range(2000):
            ddb.put_item(TableName="deep", Item={"pk": {"S": f"k{i:05d}"}})
        page = ddb.scan(TableName="deep", Limit=10, ExclusiveStartKey={"pk": {"S": "k01500"}})
    assert [item["pk"]["S"] for item in page["Items"]] == [f"k{i:05d}" for i in range(1501, 1511)]
    assert len(compared) <= 1
