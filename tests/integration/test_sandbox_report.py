"""The sandbox report's arithmetic on plain data: expected sets from the ledger, lost, duplicates,
order violations and flip inversions, copied items, and assert_nothing_lost."""

from __future__ import annotations

import pytest

from turnout.sandbox.pipeline.report import assert_nothing_lost, compute_report, format_report


def event(event_id: str, env: str, seq: int, sn: int, key: str = "k1", shard: str = "s-0") -> dict:
    return {
        "id": event_id,
        "key": key,
        "seq": seq,
        "stream": "clicks",
        "env": env,
        "stream_name": "clicks",
        "shard": shard,
        "sn": str(sn),
        "accepted_at": 0.0,
    }


def processing(event_id: str, env: str, order: int, seq: int, key: str = "k1", **extra) -> dict:
    return {
        "event_id": event_id,
        "environment": env,
        "stream": "clicks",
        "key": key,
        "seq": seq,
        "processed_order": f"{order:020d}",
        **{"consumer": f"{env}-fn", **extra},
    }


def test_old_must_have_what_was_written_to_it_and_what_the_ledger_delivered():
    events = [
        event("o1", "old", 1, 1),
        event("o2", "old", 2, 2),
        event("n3", "new", 3, 10),
        event("n4", "new", 4, 11),
        event("n5", "new", 5, 12),
    ]
    processed = {
        "old": [
            processing("o1", "old", 1, 1),
            processing("o2", "old", 2, 2),
            processing("o2", "old", 3, 2),  # a redelivery: a duplicate, still in order
            processing("n3", "old", 4, 3),
        ],
        "new": [],
    }
    report = compute_report(events, processed, {"clicks/s-0": 11}, new_required=False)
    old = report["environments"]["old"]
    assert old["expected"] == 4  # o1, o2, n3, n4 (n5 is beyond the ledger)
    assert old["lost"] == 1 and old["lost_sample"] == ["n4"]
    assert old["duplicates"] == 1 and old["processed"] == 3
    assert report["replication"] == {
        "mode": "copy",
        "ledger_shards": 1,
        "delivered_to_old": 2,
        "not_yet_delivered": 1,
        "read_across_until": None,  # copy mode
    }
    assert report["pending"] == 1  # n5: neither delivered nor processed by new
    assert not report["nothing_lost"]
    with pytest.raises(AssertionError, match="old: 1 of 4 expected events not processed"):
        assert_nothing_lost(report)


def test_new_is_required_only_when_its_consumers_were_resumed():
    events = [event("n1", "new", 1, 1), event("n2", "new", 2, 2)]
    processed = {"old": [], "new": [processing("n1", "new", 1, 1)]}
    paused = compute_report(events, processed, {}, new_required=False)
    assert paused["environments"]["new"]["expected"] == 0 and paused["lost"] == 0
    assert paused["pending"] == 1
    assert_nothing_lost(paused)
    with pytest.raises(AssertionError, match="neither replicated to old nor processed by new"):
        assert_nothing_lost(paused, allow_pending=False)
    resumed = compute_report(events, processed, {}, new_required=True)
    assert resumed["environments"]["new"]["lost"] == 1


def test_order_is_judged_on_first_processings_and_flip_inversions_are_counted():
    # Rollback: n2 (written to new before the flip back) reaches old through replication after
    # the direct o3 of the same key was processed: an order violation and a flip inversion.
    events = [
        event("o1", "old", 1, 1),
        event("n2", "new", 2, 1),
        event("o3", "old", 3, 2),
        event("o1b", "old", 1, 3, key="k2"),
        event("o2b", "old", 2, 4, key="k2"),
    ]
    processed = {
        "old": [
            processing("o1", "old", 1, 1),
            processing("o3", "old", 2, 3),
            processing("n2", "old", 3, 2),
            processing("o2b", "old", 4, 2, key="k2"),  # processed before its predecessor
            processing("o1b", "old", 5, 1, key="k2"),
            processing("o2b", "old", 6, 2, key="k2"),  # a later duplicate does not repair it
        ],
        "new": [],
    }
    report = compute_report(events, processed, {"clicks/s-0": 1}, new_required=False)
    old = report["environments"]["old"]
    assert old["lost"] == 0
    assert old["order_violations"] == 2 and old["keys_with_order_violations"] == 2
    assert old["flip_inversions"] == 1
    assert old["replicated_processed"] == 1
    assert "flip inversions" in format_report(report)


def test_copied_unparseable_and_unknown_items_are_reported_apart():
    events = [event("o1", "old", 1, 1)]
    processed = {
        "old": [
            processing("o1", "old", 1, 1),
            processing("unparseable:clicks:s-0:9", "old", 2, 0, parse_error="not JSON"),
            processing("ghost", "old", 3, 1),
        ],
        # The copy hook's items keep environment "old": they are not processings of new.
        "new": [processing("o1", "old", 1, 1, copied_from="old")],
    }
    report = compute_report(events, processed, {}, new_required=True)
    old, new = report["environments"]["old"], report["environments"]["new"]
    assert old["unparseable"] == 1 and old["unknown_events"] == 1 and old["lost"] == 0
    assert new["copied_items"] == 1 and new["processings"] == 0
    assert_nothing_lost(report)


def test_read_across_expects_in_old_what_was_written_to_new_up_to_the_given_time():
    events = [event("o1", "old", 1, 1), event("n2", "new", 2, 10), event("n3", "new", 3, 11)]
    events[1]["accepted_at"], events[2]["accepted_at"] = 100.0, 200.0
    processed = {"old": [processing("o1", "old", 1, 1), processing("n2", "old", 2, 2)], "new": []}
    until_150 = compute_report(events, processed, {}, new_required=False, old_reads_new_until=150)
    assert until_150["environments"]["old"]["expected"] == 2 and until_150["lost"] == 0
    assert until_150["pending"] == 1  # n3: read by neither yet
    whole_tail = compute_report(
        events, processed, {}, new_required=False, old_reads_new_until=float("inf")
    )
    assert whole_tail["environments"]["old"]["lost_sample"] == ["n3"]
    copy_mode = compute_report(events, processed, {}, new_required=False)
    assert copy_mode["environments"]["old"]["expected"] == 1  # no ledger: nothing delivered
    assert "the old consumers read the new streams; 1 of 2 events written to new were due" in (
        format_report(until_150)
    )
    assert "replication new→old: 0 of 2" in format_report(copy_mode)


def test_read_across_labels_the_old_consumers_reads_of_new_and_ignores_a_stale_ledger():
    events = [event("o1", "old", 1, 1), event("n2", "new", 2, 10), event("n3", "new", 3, 11)]
    events[1]["accepted_at"], events[2]["accepted_at"] = 100.0, 200.0
    processed = {"old": [processing("o1", "old", 1, 1), processing("n2", "old", 2, 2)], "new": []}
    # A ledger left by a copy-mode rehearsal says n3 was delivered: read-across does not use it.
    report = compute_report(
        events, processed, {"clicks/s-0": 11}, new_required=False, old_reads_new_until=150
    )
    old = report["environments"]["old"]
    assert report["replication"]["mode"] == "read-across"
    assert report["replication"]["ledger_shards"] == 0
    assert old["expected"] == 2 and old["lost"] == 0
    assert old["read_across_processed"] == 1 and old["replicated_processed"] is None
    text = format_report(report)
    assert "read across, processed" in text and "replicated" not in text
    assert "nothing copied" in text
    copy_mode = compute_report(events, processed, {"clicks/s-0": 11}, new_required=False)
    assert copy_mode["replication"]["mode"] == "copy"
    assert copy_mode["environments"]["old"]["replicated_processed"] == 1
    assert copy_mode["environments"]["old"]["read_across_processed"] is None
    assert "replicated, processed" in format_report(copy_mode)


def test_read_across_pending_events_are_named_as_not_read_by_old():
    events = [event("n1", "new", 1, 10)]
    events[0]["accepted_at"] = 500.0
    report = compute_report(
        events, {"old": [], "new": []}, {}, new_required=False, old_reads_new_until=100
    )
    with pytest.raises(AssertionError, match="neither read by old nor processed by new"):
        assert_nothing_lost(report, allow_pending=False)


def test_each_declared_consumer_must_process_every_event_of_its_streams_itself():
    """Two consumers of one stream (a Lambda function and a KCL application): an event the
    application missed is lost although the function processed it; an event each processed once
    is no duplicate; a declared consumer that processed nothing loses everything of its
    streams."""
    events = [event("o1", "old", 1, 1), event("o2", "old", 2, 2)]
    processed = {
        "old": [
            processing("o1", "old", 1, 1, consumer="legacy-fn"),
            processing("o2", "old", 2, 2, consumer="legacy-fn"),
            processing("o1", "old", 3, 1, consumer="kcl-app"),
            processing("o1", "old", 4, 1, consumer="kcl-app"),  # the application's redelivery
        ],
        "new": [],
    }
    streams = {"old": {"legacy-fn": ("clicks",), "kcl-app": ("clicks",)}, "new": {}}
    report = compute_report(events, processed, {}, new_required=False, consumer_streams=streams)
    old = report["environments"]["old"]
    assert old["lost"] == 1 and old["lost_sample"] == ["o2"]
    assert old["duplicates"] == 1
    assert old["by_consumer"] == {
        "kcl-app": {"processings": 2, "processed": 1, "duplicates": 1, "lost": 1},
        "legacy-fn": {"processings": 2, "processed": 2, "duplicates": 0, "lost": 0},
    }
    silent = {"old": {**streams["old"], "audit-fn": ("clicks",)}, "new": {}}
    report = compute_report(events, processed, {}, new_required=False, consumer_streams=silent)
    assert report["environments"]["old"]["by_consumer"]["audit-fn"]["lost"] == 2


def test_a_consumer_of_other_streams_is_not_expected_to_process_these():
    events = [event("o1", "old", 1, 1)]
    processed = {"old": [processing("o1", "old", 1, 1, consumer="legacy-fn")], "new": []}
    streams = {"old": {"legacy-fn": ("clicks",), "audit-fn": ("audit",)}, "new": {}}
    report = compute_report(events, processed, {}, new_required=False, consumer_streams=streams)
    old = report["environments"]["old"]
    assert old["lost"] == 0 and old["by_consumer"]["audit-fn"]["lost"] == 0


def test_the_text_names_the_consumer_that_missed_events():
    events = [event("o1", "old", 1, 1)]
    processed = {"old": [processing("o1", "old", 1, 1, consumer="legacy-fn")], "new": []}
    streams = {"old": {"legacy-fn": ("clicks",), "kcl-app": ("clicks",)}, "new": {}}
    report = compute_report(events, processed, {}, new_required=False, consumer_streams=streams)
    assert "not processed by each consumer in old: kcl-app 1" in format_report(report)
