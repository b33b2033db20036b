"""Throttling, pagination and the early, clear failures of discovery, with in-process fakes."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, NoCredentialsError

from turnout.discover.classify import discover, list_stream_names
from turnout.discover.reader import AccountReader, Backoff, DiscoveryError, check_region, pages


def client_error(code: str, operation: str = "Call") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": f"{code} says no"}}, operation)


class FlakyCall:
    """Fails with `code` the first `failures` times, then answers."""

    def __init__(self, failures: int, code: str = "LimitExceededException"):
        self.failures = failures
        self.code = code
        self.calls = 0
        self.__name__ = "list_streams"

    def __call__(self, **arguments):
        self.calls += 1
        if self.calls <= self.failures:
            raise client_error(self.code)
        return {"ok": True, "arguments": arguments}


def test_throttled_calls_are_retried_with_growing_bounded_delays():
    delays: list[float] = []
    backoff = Backoff(attempts=6, base_seconds=0.5, cap_seconds=2.0, sleep=delays.append)
    call = FlakyCall(failures=4)
    assert backoff.call(call, Limit=1) == {"ok": True, "arguments": {"Limit": 1}}
    assert delays == [0.5, 1.0, 2.0, 2.0]
    assert backoff.throttled == 4


@pytest.mark.parametrize("code", ["ThrottlingException", "TooManyRequestsException"])
def test_every_throttling_code_is_retried(code):
    backoff = Backoff(sleep=lambda seconds: None)
    assert backoff.call(FlakyCall(failures=2, code=code))["ok"]


def test_throttling_that_never_ends_gives_up_with_a_clear_error():
    delays: list[float] = []
    call = FlakyCall(failures=100)
    with pytest.raises(DiscoveryError, match="kept throttling list_streams"):
        Backoff(attempts=3, sleep=delays.append).call(call)
    assert call.calls == 3
    assert len(delays) == 2


def test_other_errors_are_not_retried():
    call = FlakyCall(failures=1, code="ResourceNotFoundException")
    with pytest.raises(ClientError):
        Backoff(sleep=lambda seconds: None).call(call)
    assert call.calls == 1


class PagedShards:
    """ListShards as AWS does it: NextToken must come without StreamName."""

    def __init__(self):
        self.requests: list[dict] = []

    def list_shards(self, **arguments):
        self.requests.append(arguments)
        if "NextToken" in arguments:
            assert "StreamName" not in arguments, "AWS rejects StreamName with NextToken"
            return {"Shards": [{"ShardId": "shardId-2"}]}
        return {"Shards": [{"ShardId": "shardId-1"}], "NextToken": "t1"}


def test_pages_follow_the_token_and_drop_the_stream_name_as_list_shards_requires():
    fake = PagedShards()
    backoff = Backoff(sleep=lambda seconds: None)
    shards = [
        shard["ShardId"]
        for page in pages(backoff, fake.list_shards, "NextToken", "NextToken", StreamName="s")
        for shard in page["Shards"]
    ]
    assert shards == ["shardId-1", "shardId-2"]
    assert fake.requests == [{"StreamName": "s"}, {"NextToken": "t1"}]


class FakeKinesis:
    def __init__(self, names: list[str], page_size: int = 2, throttle_every: int = 0):
        self.names = names
        self.page_size = page_size
        self.throttle_every = throttle_every
        self.calls = 0

    def list_streams(self, ExclusiveStartStreamName: str | None = None):
        self.calls += 1
        if self.throttle_every and self.calls % self.throttle_every == 0:
            raise client_error("LimitExceededException", "ListStreams")
        start = self.names.index(ExclusiveStartStreamName) + 1 if ExclusiveStartStreamName else 0
        batch = self.names[start : start + self.page_size]
        return {"StreamNames": batch, "HasMoreStreams": start + self.page_size < len(self.names)}


class FakeSts:
    def __init__(self, answer):
        self.answer = answer

    def get_caller_identity(self):
        if isinstance(self.answer, Exception):
            raise self.answer
        return {"Account": self.answer}


class FakeReader(AccountReader):
    def __init__(self, clients: dict, region: str = "eu-west-1"):
        super().__init__(region, session=object(), backoff=Backoff(sleep=lambda seconds: None))
        self._clients = clients


def test_stream_listing_pages_through_every_page_even_when_throttled():
    names = [f"stream-{index}" for index in range(7)]
    reader = FakeReader({"kinesis": FakeKinesis(names, page_size=2, throttle_every=3)})
    assert list_stream_names(reader) == names
    assert reader.backoff.throttled >= 1


@pytest.mark.parametrize(
    "code", ["UnrecognizedClientException", "InvalidClientTokenId", "ExpiredToken"]
)
def test_rejected_credentials_are_one_clear_paragraph(code):
    reader = FakeReader({"sts": FakeSts(client_error(code, "GetCallerIdentity"))})
    with pytest.raises(DiscoveryError) as caught:
        discover(reader)
    message = str(caught.value)
    assert f"AWS rejected the credentials ({code}" in message
    assert "nothing was written" in message.lower()
    assert "\n" not in message


def test_missing_credentials_say_how_to_provide_them():
    reader = FakeReader({"sts": FakeSts(NoCredentialsError())})
    with pytest.raises(DiscoveryError, match="no AWS credentials were found"):
        discover(reader)


def test_credentials_of_another_account_are_refused():
    reader = FakeReader({"sts": FakeSts("111111111111")})
    with pytest.raises(DiscoveryError, match=r"act in account 111111111111, not in 222222222222"):
        discover(reader, expected_account="222222222222")


def test_an_empty_account_names_the_pattern_and_the_region():
    reader = FakeReader({"sts": FakeSts("111111111111"), "kinesis": FakeKinesis([])})
    with pytest.raises(DiscoveryError) as caught:
        discover(reader, pattern="clicks*")
    assert "has no streams at all --streams 'clicks*' in region eu-west-1" in str(caught.value)


def test_streams_that_exist_but_do_not_match_are_counted_in_the_error():
    reader = FakeReader(
        {"sts": FakeSts("111111111111"), "kinesis": FakeKinesis(["orders", "audit"])}
    )
    with pytest.raises(DiscoveryError, match="has 2 stream\\(s\\), none matching --streams"):
        discover(reader, pattern="clicks*")


@pytest.mark.parametrize("region", ["mars-north-1", "eu-west", "EU-WEST-1", "eu-west-99"])
def test_unknown_regions_are_refused(region):
    with pytest.raises(DiscoveryError, match="is not an AWS region where Kinesis is available"):
        check_region(region)


@pytest.mark.parametrize("region", ["eu-west-1", "us-east-1", "ap-southeast-2", "us-gov-west-1"])
def test_known_regions_are_accepted(region):
    assert check_region(region) == region
