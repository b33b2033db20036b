"""A batch is in sequence order: each sequence number is after the previous one as a number
(longer, or as long and greater), whatever its length; a repeated or earlier one is named."""

from __future__ import annotations

import pytest
from fakes_kinesis import make_event, make_shard

from turnout.lambdas.replicator import MalformedRecordError, parse_batch


def event_with_sequences(*sequences: str) -> dict:
    event = make_event(make_shard(len(sequences), keys=2))
    for record, sequence in zip(event["Records"], sequences, strict=True):
        record["kinesis"]["sequenceNumber"] = sequence
        record["eventID"] = record["eventID"].split(":")[0] + ":" + sequence
    return event


@pytest.mark.parametrize(
    "sequences",
    [
        ("7",),
        ("1", "2", "10", "11", "100"),
        ("9" * 56, "1" + "0" * 56),
        ("49590338271490256608559692538361571095921575989136", "4" + "9" * 60),
    ],
)
def test_sequence_numbers_after_each_other_as_numbers_are_accepted(sequences):
    assert parse_batch(event_with_sequences(*sequences)).sequence_numbers == list(sequences)


@pytest.mark.parametrize(
    ("sequences", "position"),
    [
        (("5", "5"), 1),
        (("1", "2", "10", "9"), 3),
        (("1" + "0" * 56, "9" * 56), 1),
        (("12", "13", "13"), 2),
    ],
)
def test_a_repeated_or_earlier_sequence_number_is_named(sequences, position):
    with pytest.raises(MalformedRecordError) as raised:
        parse_batch(event_with_sequences(*sequences))
    assert raised.value.position == position
    assert raised.value.sequence_number == sequences[position]
    assert f"previous record's sequence number {sequences[position - 1]}" in raised.value.problem
