"""The local Lambda runtime's AWS/Lambda metrics: aggregated off the hot path, flushed as the
Lambda service publishes them, and a failing PutMetricData never raises."""

from __future__ import annotations

from turnout.sandbox.lambda_runtime.metrics import LambdaMetricsPublisher

ARN = "arn:aws:lambda:eu-west-1:111111111111:function:fn"


class RecordingCloudWatch:
    def __init__(self, fail: bool = False) -> None:
        self.calls: list[dict] = []
        self.fail = fail

    def put_metric_data(self, **kwargs: object) -> dict:
        if self.fail:
            raise ConnectionError("emulator unreachable")
        self.calls.append(kwargs)
        return {}


def test_invocations_errors_and_maximum_iterator_age_per_function():
    cloudwatch = RecordingCloudWatch()
    targets: list[tuple[str, str]] = []

    def client(account: str, region: str) -> RecordingCloudWatch:
        targets.append((account, region))
        return cloudwatch

    publisher = LambdaMetricsPublisher(client, interval=60)
    base = 1_700_000_040.0
    publisher.record(ARN, ok=True, last_arrival=base - 2.0, sent_at=base)
    publisher.record(ARN, ok=False, last_arrival=base - 0.5, sent_at=base + 1)
    assert cloudwatch.calls == [], "recording an invocation makes no call"
    assert publisher.flush() == 3
    (call,) = cloudwatch.calls
    assert targets == [("111111111111", "eu-west-1")]
    assert call["Namespace"] == "AWS/Lambda"
    values = {datum["MetricName"]: datum["Value"] for datum in call["MetricData"]}
    assert values == {"Invocations": 2.0, "Errors": 1.0, "IteratorAge": 2000.0}
    for datum in call["MetricData"]:
        assert datum["Dimensions"] == [{"Name": "FunctionName", "Value": "fn"}]
    assert publisher.flush() == 0, "flushed samples are not sent twice"


def test_a_failing_put_metric_data_is_dropped_never_raised():
    publisher = LambdaMetricsPublisher(lambda account, region: RecordingCloudWatch(fail=True))
    publisher.record(ARN, ok=True, last_arrival=None, sent_at=1_700_000_000.0)
    assert publisher.flush() == 0
    assert publisher.failed == 2  # Invocations and Errors; no IteratorAge without an arrival


def test_samples_of_different_periods_become_different_datapoints():
    cloudwatch = RecordingCloudWatch()
    publisher = LambdaMetricsPublisher(lambda account, region: cloudwatch, period=60)
    publisher.record(ARN, ok=True, last_arrival=1_700_000_000.0, sent_at=1_700_000_001.0)
    publisher.record(ARN, ok=True, last_arrival=1_700_000_000.0, sent_at=1_700_000_100.0)
    publisher.flush()
    ages = [
        d["Value"] for d in cloudwatch.calls[0]["MetricData"] if d["MetricName"] == "IteratorAge"
    ]
    assert sorted(ages) == [1000.0, 100000.0]
