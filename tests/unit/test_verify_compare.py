"""verify's per-key comparison: each kind of fault is found, and nothing else is reported."""

from __future__ import annotations

from turnout.verify.compare import Seen, compare_key, digest, failing_kinds, out_of_order


def records(*payloads: str, shard: str = "shardId-000000000000", edge_from: int | None = None):
    return [
        Seen(
            digest(payload.encode()),
            shard,
            str(index + 1),
            edge_from is not None and index >= edge_from,
        )
        for index, payload in enumerate(payloads)
    ]


def counts(result) -> dict:
    return {kind: count for kind, count in result.counts.items() if count}


def test_an_exact_copy_passes():
    result = compare_key("k", records("a", "b", "c"), records("a", "b", "c"))
    assert not result.failed and counts(result) == {} and result.matched == 3


def test_a_deleted_record_is_missing_and_named():
    result = compare_key("k", records("a", "b", "c"), records("a", "c"))
    assert counts(result) == {"missing": 1}
    (finding,) = result.findings
    assert finding["stream_side"] == "new" and finding["sequence_number"] == "2"
    assert finding["digest"] == digest(b"b").hex()[:16]


def test_a_record_copied_twice_is_duplicated_not_reordered():
    result = compare_key("k", records("a", "b", "c"), records("a", "b", "b", "c"))
    assert counts(result) == {"duplicated": 1}
    assert result.findings[0]["sequence_number"] == "3"


def test_a_late_duplicate_of_an_early_record_does_not_count_as_reordering():
    result = compare_key("k", records("a", "b", "c"), records("a", "b", "c", "a"))
    assert counts(result) == {"duplicated": 1}


def test_two_swapped_records_are_one_reordered_record():
    result = compare_key("k", records("a", "b", "c", "d"), records("a", "c", "b", "d"))
    assert counts(result) == {"reordered": 1}


def test_one_record_moved_far_counts_once():
    new = [str(index) for index in range(20)]
    old = new[1:10] + new[:1] + new[10:]
    assert counts(compare_key("k", records(*new), records(*old))) == {"reordered": 1}


def test_a_record_only_in_old_is_extra():
    assert counts(compare_key("k", records("a"), records("a", "zz"))) == {"extra": 1}


def test_identical_payloads_sent_twice_on_purpose_are_matched_one_to_one():
    result = compare_key("k", records("a", "a", "b"), records("a", "a", "b"))
    assert not result.failed and result.matched == 3


def test_a_young_record_without_a_copy_is_not_yet_replicated_and_does_not_fail():
    result = compare_key("k", records("a", "b", "c", edge_from=2), records("a", "b"))
    assert counts(result) == {"not_yet_replicated": 1} and not result.failed


def test_an_old_young_record_without_a_copy_is_still_missing():
    result = compare_key("k", records("a", "b", "c", edge_from=2), records("a", "c"))
    assert counts(result) == {"missing": 1}


def test_an_unmatched_old_record_in_the_head_window_is_before_the_window():
    old = records("x", "a", edge_from=None)
    old[0] = Seen(old[0].digest, old[0].shard, old[0].sequence, True)
    result = compare_key("k", records("a"), old)
    assert counts(result) == {"before_window": 1} and not result.failed


def test_out_of_order_removes_the_fewest_elements():
    assert out_of_order([1, 2, 3], ["a", "b", "c"]) == []
    assert out_of_order([3, 1, 2], ["a", "b", "c"]) == ["a"]
    assert len(out_of_order([5, 4, 3, 2, 1], list("abcde"))) == 4


def test_a_relaxed_repair_passes_with_its_duplicates_and_inversions_counted():
    # the replicator wrote a, then c and d ahead of a failed b, then b, c, d again in order
    new, old = records("a", "b", "c", "d"), records("a", "c", "d", "b", "c", "d")
    relaxed = compare_key("k", new, old, "relaxed", failing_kinds("relaxed"))
    assert counts(relaxed) == {"duplicated": 2, "inversions": 2}
    assert not relaxed.failed
    # the same stream read as strict: b's first copy comes after c's and d's
    strict = compare_key("k", new, old, "strict", failing_kinds("strict"))
    assert strict.failed and strict.counts["reordered"] == 1


def test_relaxed_last_copies_out_of_order_are_reordered():
    result = compare_key(
        "k", records("a", "b"), records("a", "b", "a"), "relaxed", failing_kinds("relaxed")
    )
    assert result.failed and result.counts["reordered"] == 1


def test_a_strict_retry_writing_a_run_twice_counts_its_inversions():
    result = compare_key("k", records("a", "b", "c"), records("a", "b", "c", "a", "b", "c"))
    assert counts(result) == {"duplicated": 3, "inversions": 2}


def test_allow_duplicates_or_relaxed_order_stop_duplicates_failing():
    assert "duplicated" in failing_kinds("strict")
    assert "duplicated" not in failing_kinds("strict", allow_duplicates=True)
    assert failing_kinds("relaxed") == ("missing", "extra", "reordered")
