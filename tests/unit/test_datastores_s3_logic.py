"""The S3 copy's pieces that need no AWS: the side-by-side walk of two listings, the watermark
that makes a resumed copy start after what is done, the shared rate limit, and a multipart copy
resumed from its finished parts (an in-process fake S3 for the fault cases)."""

from __future__ import annotations

from botocore.exceptions import ClientError

from turnout.datastores.ratelimit import RateLimiter
from turnout.datastores.s3_copy import MIB, ObjectCopier, UploadBook
from turnout.datastores.s3_objects import S3Object, paired
from turnout.datastores.s3_run import Watermark


def objects(*keys: str) -> list[S3Object]:
    return [S3Object(key, 1, f'"{key}"') for key in keys]


def test_two_sorted_listings_are_walked_side_by_side():
    source = objects("a", "b", "d", "é")
    target = objects("b", "c", "d")
    pairs = [
        (left.key if left else None, right.key if right else None)
        for left, right in paired(iter(source), iter(target))
    ]
    assert pairs == [("a", None), ("b", "b"), (None, "c"), ("d", "d"), ("é", None)]


def test_the_watermark_passes_a_key_only_when_every_key_before_it_is_done():
    mark = Watermark(start="0")
    for key in ("a", "b", "c", "d"):
        mark.add(key)
    mark.finish("b")
    mark.finish("d")
    assert mark.mark == "0", "a is still in flight: nothing after it counts as done"
    mark.finish("a")
    assert mark.mark == "b"
    mark.finish("c")
    assert mark.mark == "d"


def test_the_rate_limit_spreads_requests_over_time():
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    limiter = RateLimiter(10, clock=lambda: now[0], sleep=sleep)
    for _ in range(30):
        limiter.acquire()
    # a burst of one second's worth (10), then one every 0.1 s
    assert abs(now[0] - 2.0) < 1e-6
    assert limiter.acquire(25) > 0, "a request bigger than the bucket waits, it is not refused"


class FakeS3:
    """Records calls; ListParts answers from `parts`, or NoSuchUpload when `upload_gone`."""

    def __init__(self, parts: dict[int, str] | None = None, upload_gone: bool = False) -> None:
        self.calls: list[tuple[str, dict]] = []
        self.parts = parts or {}
        self.upload_gone = upload_gone

    def __getattr__(self, name: str):
        def call(**arguments):
            self.calls.append((name, arguments))
            if name == "head_object":
                return {"Metadata": {"owner": "x"}, "ContentType": "video/mp4"}
            if name == "list_parts":
                if self.upload_gone:
                    raise ClientError({"Error": {"Code": "NoSuchUpload"}}, "ListParts")
                return {"Parts": [{"PartNumber": n, "ETag": e} for n, e in self.parts.items()]}
            if name == "create_multipart_upload":
                return {"UploadId": "new-upload"}
            if name == "upload_part_copy":
                return {"CopyPartResult": {"ETag": f'"p{arguments["PartNumber"]}"'}}
            if name == "get_object_tagging":
                return {"TagSet": [{"Key": "team", "Value": "data"}]}
            return {}

        return call

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]


def copier(s3: FakeS3, uploads: dict | None = None) -> tuple[ObjectCopier, list[dict]]:
    persisted: list[dict] = []
    return (
        ObjectCopier(
            s3=s3,
            source_bucket="old-bucket",
            source_prefix="in/",
            target_bucket="new-bucket",
            target_prefix="out/",
            multipart_threshold=8 * MIB,
            part_size=5 * MIB,
            limiter=RateLimiter(1000),
            book=UploadBook(persist=persisted.append, uploads=dict(uploads or {})),
        ),
        persisted,
    )


BIG = S3Object("movie.mp4", 12 * MIB, '"source-etag-2"')


def test_a_multipart_copy_is_recorded_before_its_first_part_and_keeps_metadata_and_tags():
    s3 = FakeS3()
    result = copier(s3)[0].copy(BIG)
    assert result == {"bytes": BIG.size, "multipart": True, "parts": 3, "parts_resumed": 0}
    create = next(args for name, args in s3.calls if name == "create_multipart_upload")
    assert create["Metadata"] == {"owner": "x", "turnout-source-etag": BIG.etag}
    assert create["ContentType"] == "video/mp4" and create["Tagging"] == "team=data"
    ranges = [args["CopySourceRange"] for name, args in s3.calls if name == "upload_part_copy"]
    assert ranges == [
        f"bytes=0-{5 * MIB - 1}",
        f"bytes={5 * MIB}-{10 * MIB - 1}",
        f"bytes={10 * MIB}-{12 * MIB - 1}",
    ]
    assert all(
        args["CopySourceIfMatch"] == BIG.etag
        for name, args in s3.calls
        if name == "upload_part_copy"
    )


def test_a_resumed_multipart_copy_copies_only_the_missing_parts():
    record = {"upload_id": "u-1", "source_etag": BIG.etag, "part_size": 5 * MIB}
    s3 = FakeS3(parts={1: '"p1"', 2: '"p2"'})
    instance, persisted = copier(s3, {"out/movie.mp4": record})
    result = instance.copy(BIG)
    assert result["parts_resumed"] == 2
    assert [a["PartNumber"] for n, a in s3.calls if n == "upload_part_copy"] == [3]
    assert "create_multipart_upload" not in s3.names()
    assert persisted[-1] == {}, "the finished upload is removed from the checkpoint"


def test_an_upload_of_another_source_version_is_aborted_and_started_again():
    stale = {"upload_id": "u-old", "source_etag": '"older"', "part_size": 5 * MIB}
    s3 = FakeS3()
    copier(s3, {"out/movie.mp4": stale})[0].copy(BIG)
    assert (
        "abort_multipart_upload",
        {"Bucket": "new-bucket", "Key": "out/movie.mp4", "UploadId": "u-old"},
    ) in s3.calls
    assert len([n for n in s3.names() if n == "upload_part_copy"]) == 3


def test_an_upload_that_no_longer_exists_is_started_again():
    record = {"upload_id": "u-gone", "source_etag": BIG.etag, "part_size": 5 * MIB}
    s3 = FakeS3(upload_gone=True)
    copier(s3, {"out/movie.mp4": record})[0].copy(BIG)
    assert "create_multipart_upload" in s3.names()
    assert len([n for n in s3.names() if n == "upload_part_copy"]) == 3


def test_a_small_object_is_one_server_side_copy_that_keeps_its_metadata():
    s3 = FakeS3()
    copier(s3)[0].copy(S3Object("a.json", 100, '"e1"'))
    copy = next(args for name, args in s3.calls if name == "copy_object")
    assert copy["CopySource"] == {"Bucket": "old-bucket", "Key": "in/a.json"}
    assert copy["Key"] == "out/a.json" and copy["CopySourceIfMatch"] == '"e1"'
    assert "MetadataDirective" not in copy, "COPY (the default) keeps metadata exactly"
