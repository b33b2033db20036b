"""DynamoDB tables that are read while they are written, and items sized once.

moto's server answers requests in threads, but moto 5.2.5's DynamoDB ``Table`` iterates its
item dict directly when it counts items (``DescribeTable``'s ``ItemCount``) and when it lists
them (``Scan``, ``Query``, index reads). A ``PutItem`` of another thread that adds a key
meanwhile makes the iteration raise ``RuntimeError: dictionary changed size during iteration``,
which the server answers with HTTP 500: the sandbox demo failed that way while consumers
were still writing (``DescribeTable`` of the processed table). DynamoDB itself serves reads
during writes. These replacements iterate a snapshot of the dict instead (``list(d.values())``
copies it without running Python code, so no other thread changes it meanwhile); results are
the same as moto's.

``size_items_once``: moto's ``Item`` stores its attributes in a ``LimitedSizeDict`` that sums
the size of every attribute already stored on each insertion (quadratic in the attributes: 137
size computations for a 16-attribute item, ~3 ms of the emulator per item written; the sandbox's
consumers write one such item per record and the copy hook tens of thousands). The replacement
builds a new item's attributes, sums their sizes once and refuses the item past the same limit
with the same error; updates of stored items keep moto's path.

``answer_reads_with_json``: moto's generic response serializer walks the operation's shape for
every attribute of every item (~0.3 ms of the emulator per item: a Scan of the sandbox's 70,000
processed items spent 25 s in it). A Scan or Query answer made of plain JSON values (strings,
numbers, booleans, lists, maps: everything but binary attributes) is written with
``json.dumps`` instead; the bytes parse to the same answer (a test compares the two), and any
other answer still goes through moto's serializer.

``scan_pages_from_their_start``: moto sorts every item of the table for each Scan page, one
``DynamoType`` comparison (a Python call) at a time, then walks the sorted items up to the page's
``ExclusiveStartKey`` comparing each with it: every page costs the whole table, so a paginated
Scan is quadratic (the sandbox report's scan of two 40,000-item tables took 43 s). The
replacement sorts by the keys' values themselves (the order ``DynamoType`` defines: key
attributes are strings, numbers or binary) and starts a page at its start key by bisection;
moto's own loop then serves the page from there, so the items, their order and the
``LastEvaluatedKey`` are moto's.

``parse_requests_with_json``: moto parses every request by walking the operation's input shape
(a Python call per attribute: a third of a BatchWriteItem's emulator time; the sandbox's
consumers write one item per record). For the item operations, whose input has no timestamp
and carries binary data only in ``B``/``BS`` attribute values, a body without those is parsed
with ``json.loads``, which gives the same parameters (a test compares the two); any other
request still goes through moto's parser.

Only the emulator's server process imports this module.
"""

from __future__ import annotations

import bisect
import functools
import json
import threading
from typing import Any

_scan_start = threading.local()  # the native key a base-table Scan page starts after


def _items(table: Any) -> list[Any]:
    items: list[Any] = []
    for hash_set in list(table.items.values()):
        if table.range_key_attr:
            items.extend(list(hash_set.values()))
        else:
            items.append(hash_set)
    return items


def read_tables_from_snapshots() -> None:
    from moto.dynamodb.models.table import Table

    def __len__(self: Any) -> int:
        values = list(self.items.values())
        return sum(len(v) for v in values) if self.has_range_key else len(values)

    def all_items(self: Any) -> list[Any]:
        items = sorted(_items(self), key=_native_key)
        start = getattr(_scan_start, "key", None)
        if start is None:
            return items
        return items[bisect.bisect_right(items, start, key=_native_key) :]

    def has_idx_items(self: Any, index_name: str) -> list[Any]:
        wanted = {key["AttributeName"] for key in self.get_index(index_name).schema}
        return [item for item in _items(self) if wanted.issubset(set(item.attrs))]

    Table.__len__ = __len__  # type: ignore[method-assign]
    Table.all_items = all_items  # type: ignore[method-assign]
    Table.has_idx_items = has_idx_items  # type: ignore[method-assign]


def _native_key(item: Any) -> Any:
    """The sort key moto uses, ``(hash_key, range_key)`` or ``hash_key``, as plain values."""
    if item.range_key:
        return (item.hash_key.cast_value, item.range_key.cast_value)
    return item.hash_key.cast_value


def _start_key(table: Any, exclusive_start_key: dict[str, Any]) -> Any:
    from moto.dynamodb.models.dynamo_type import DynamoType

    hash_value = DynamoType(exclusive_start_key[table.hash_key_attr]).cast_value
    if not table.range_key_attr:
        return hash_value
    return (hash_value, DynamoType(exclusive_start_key[table.range_key_attr]).cast_value)


def scan_pages_from_their_start() -> None:
    """A base-table Scan page skips the pages before it by bisection (after
    ``read_tables_from_snapshots``, whose ``all_items`` honours the start)."""
    from moto.dynamodb.models.table import Table

    original = Table.scan
    if getattr(original, "_turnout_paged", False):
        return

    @functools.wraps(original)
    def scan(self: Any, filters: Any, limit: Any, exclusive_start_key: Any, *args, **kwargs):
        index_name = kwargs.get("index_name", args[1] if len(args) > 1 else None)
        start = None
        if exclusive_start_key and not index_name:
            try:
                start = _start_key(self, exclusive_start_key)
            except (KeyError, TypeError, ValueError, ArithmeticError):
                start = None  # malformed: moto's own walk answers (and refuses) it
        _scan_start.key = start
        try:
            return original(self, filters, limit, exclusive_start_key, *args, **kwargs)
        finally:
            _scan_start.key = None

    scan._turnout_paged = True  # type: ignore[attr-defined]
    Table.scan = scan  # type: ignore[method-assign]


def size_items_once() -> None:
    from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict
    from moto.dynamodb.models.utilities import bytesize

    original_init = Item.__init__

    def __init__(self: Any, hash_key: Any, range_key: Any, attrs: dict[str, Any]) -> None:
        values = {key: DynamoType(value) for key, value in attrs.items()}
        # moto's LimitedSizeDict: an item over 405,000 bytes (keys + values) is refused.
        total = sum(bytesize(key) + value.size() for key, value in values.items())
        if total > 405000:
            original_init(self, hash_key, range_key, attrs)  # raises moto's ItemSizeTooLarge
            return
        self.hash_key = hash_key
        self.range_key = range_key
        self.attrs = LimitedSizeDict()
        dict.update(self.attrs, values)  # sized above: no per-attribute re-summing

    Item.__init__ = __init__  # type: ignore[method-assign]


def plain_json(value: Any) -> bool:
    """True when ``json.dumps(value)`` gives what moto's serializer would: no bytes (binary
    attributes, which it base64-encodes), no None (which it leaves out), no other types."""
    if isinstance(value, str | bool | int | float):
        return True
    if isinstance(value, dict):
        return all(type(key) is str and plain_json(item) for key, item in value.items())
    if isinstance(value, list):
        return all(plain_json(item) for item in value)
    return False


def read_answer_json(result: Any) -> str | None:
    """The body of a Scan or Query answer (``result``: moto's ``DynamoResult``), or None when
    moto's serializer must write it."""
    from moto import settings
    from moto.dynamodb.responses import DynamoResult

    if not isinstance(result, DynamoResult) or settings.PRETTIFY_RESPONSES:
        return None
    answer = result.result
    return json.dumps(answer) if isinstance(answer, dict) and plain_json(answer) else None


def answer_reads_with_json() -> None:
    from moto.dynamodb.responses import DynamoHandler

    for operation in ("scan", "query"):
        original = getattr(DynamoHandler, operation)
        if getattr(original, "_turnout_json", False):
            continue
        setattr(
            DynamoHandler,
            operation,
            answered_with_json(original, read_answer_json, "application/x-amz-json-1.0"),
        )


def answered_with_json(original: Any, write: Any, content_type: str) -> Any:
    """A moto response method whose answer ``write`` turns into its JSON body, or None to leave
    it to moto's serializer."""

    @functools.wraps(original)
    def answer(self: Any) -> Any:
        result = original(self)
        body = write(result)
        if body is None:
            return result
        return body, {"Content-Type": content_type}

    answer._turnout_json = True  # type: ignore[attr-defined]
    return answer


# Item operations: no timestamp in their input, binary data only in B and BS attribute values.
_JSON_PARSED = frozenset(
    {"BatchWriteItem", "PutItem", "UpdateItem", "DeleteItem", "GetItem", "BatchGetItem"}
    | {"Query", "Scan"}
)


def plain_request(action: str | None, body: bytes) -> dict | None:
    """The parameters of a DynamoDB request as moto's shape parser would give them, or None
    when it must parse it (another operation, a binary attribute, not a JSON object)."""
    if action not in _JSON_PARSED or b'"B"' in body or b'"BS"' in body:
        return None
    try:
        params = json.loads(body)
    except ValueError:
        return None
    return params if isinstance(params, dict) else None


def parse_requests_with_json() -> None:
    from moto.dynamodb.responses import DynamoHandler

    original = DynamoHandler.parse_parameters
    if getattr(original, "_turnout_json", False):
        return

    @functools.wraps(original)
    def parse_parameters(self: Any, request: Any) -> None:
        params = plain_request(self._get_action(), request.data)
        if params is None:
            original(self, request)
        else:
            self.params = params

    parse_parameters._turnout_json = True  # type: ignore[attr-defined]
    DynamoHandler.parse_parameters = parse_parameters  # type: ignore[method-assign]
