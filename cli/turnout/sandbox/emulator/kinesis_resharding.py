"""Resharding as AWS does it (the ``aws`` fidelity profile; moto's is broken, docs/emulator.md).

moto's SplitShard re-puts the parent's records into the stream (renumbered, re-stamped), its
MergeShards copies both parents' records into the child, and its PutRecord(s) route a key to the
*first* shard whose hash range holds it, closed parents included (with an exclusive upper bound).
Here, as on AWS (https://docs.aws.amazon.com/streams/latest/dev/kinesis-using-sdk-java-after-resharding.html):

- split and merge close the parents, which keep their records (readable until retention trims
  them) and get an ``EndingSequenceNumber``; the children are open and start empty;
- PutRecord(s) route by the hash ranges of the OPEN shards (ranges are inclusive);
- GetRecords on a closed shard read to its end returns no ``NextShardIterator``, so readers know
  the parent is finished and may go on with its children.

Only the emulator's server process imports this module.
"""

from __future__ import annotations

import functools
import hashlib
from collections import OrderedDict
from typing import Any

from .kinesis_reads import last_number


def route_to_open_shards() -> None:
    from moto.kinesis.exceptions import InvalidArgumentError
    from moto.kinesis.models import Stream

    def get_shard_for_key(self: Any, partition_key: str, explicit_hash_key: str) -> Any:
        if not isinstance(partition_key, str) or len(partition_key) > 256:
            raise InvalidArgumentError("partition_key")
        if explicit_hash_key:
            key = int(explicit_hash_key)
            if key >= 2**128:
                raise InvalidArgumentError("explicit_hash_key")
        else:
            key = int(hashlib.md5(partition_key.encode("utf-8")).hexdigest(), 16)
        for shard in self.shards.values():
            if shard.is_open and shard.starting_hash <= key <= shard.ending_hash:
                return shard
        return None

    Stream.get_shard_for_key = get_shard_for_key  # type: ignore[method-assign]


def parents_keep_their_records() -> None:
    from moto.kinesis.models import Stream

    original_split = Stream.split_shard
    original_merge = Stream.merge_shards

    @functools.wraps(original_split)
    def split_shard(self: Any, shard_to_split: str, new_starting_hash_key: str) -> None:
        parent = self.shards.get(shard_to_split)
        _with_records_hidden(self, [parent], original_split, shard_to_split, new_starting_hash_key)

    @functools.wraps(original_merge)
    def merge_shards(self: Any, shard_to_merge: str, adjacent_shard_to_merge: str) -> None:
        parents = [self.shards.get(shard_to_merge), self.shards.get(adjacent_shard_to_merge)]
        _with_records_hidden(self, parents, original_merge, shard_to_merge, adjacent_shard_to_merge)

    Stream.split_shard = split_shard  # type: ignore[method-assign]
    Stream.merge_shards = merge_shards  # type: ignore[method-assign]


def _with_records_hidden(stream: Any, parents: list[Any], operation: Any, *args: Any) -> None:
    """Run moto's split/merge with the parents' records out of its sight (it would move them),
    then give them back: the closed parents keep what was written to them."""
    kept = [(p, p.records) for p in parents if p is not None]
    for parent, _ in kept:
        parent._turnout_high_water = last_number(parent)
        parent.records = OrderedDict()
    try:
        operation(stream, *args)
    finally:
        for parent, records in kept:
            parent.records = records


def end_closed_shards() -> None:
    """No ``NextShardIterator`` once a closed shard has been read to its end."""
    from moto.kinesis.models import KinesisBackend

    original = KinesisBackend.get_records

    @functools.wraps(original)
    def get_records(self: Any, stream_arn: Any, shard_iterator: str, limit: Any) -> Any:
        from moto.kinesis import models

        next_iterator, records, behind = original(self, stream_arn, shard_iterator, limit)
        stream_name, shard_id, position = models.decompose_shard_iterator(shard_iterator)
        stream = self.streams.get(stream_name)
        shard = stream.shards.get(shard_id) if stream is not None else None
        if shard is not None and not shard.is_open:
            last_read = records[-1].sequence_number if records else int(position)
            if last_read >= shard.get_max_sequence_number():
                next_iterator = None
        return next_iterator, records, behind

    KinesisBackend.get_records = get_records  # type: ignore[method-assign]
