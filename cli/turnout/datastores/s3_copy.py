"""Copy one S3 object server-side: CopyObject up to the multipart threshold, UploadPartCopy
above it, resuming a multipart copy from the parts already uploaded.

Every call names the source ETag it expects (`CopySourceIfMatch`): an object that changed after
it was listed fails with 412 instead of being copied half old, half new.

What is copied: the bytes, the user metadata, the content headers (Content-Type, -Encoding,
-Disposition, -Language, Cache-Control, Expires) and the tags. Not copied: ACLs (the target
bucket enforces bucket-owner ownership), older versions, Object Lock settings; the storage
class and the encryption are the target bucket's defaults.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from botocore.exceptions import ClientError

from turnout.aws.errors import error_code
from turnout.datastores.ratelimit import RateLimiter
from turnout.datastores.s3_objects import SOURCE_ETAG_METADATA, S3Object

MIB = 1024 * 1024
MAX_PARTS = 10_000
CONTENT_HEADERS = (
    "CacheControl",
    "ContentDisposition",
    "ContentEncoding",
    "ContentLanguage",
    "ContentType",
    "Expires",
)
# With these the target's ETag is not the MD5 of the bytes, so it cannot equal the source's.
KMS_ENCRYPTION = ("aws:kms", "aws:kms:dsse")


class SourceChanged(Exception):
    """The source object is not the one listed (412 on CopySourceIfMatch / IfMatch)."""


@dataclass
class UploadBook:
    """The multipart uploads in flight, by target key; `persist` is called with a copy on every
    change, so a killed copy finds its uploads again."""

    persist: Callable[[dict], None]
    uploads: dict[str, dict] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, key: str) -> dict | None:
        with self._lock:
            return self.uploads.get(key)

    def put(self, key: str, record: dict | None) -> None:
        with self._lock:
            if record is None:
                self.uploads.pop(key, None)
            else:
                self.uploads[key] = record
            snapshot = dict(self.uploads)
        self.persist(snapshot)


@dataclass
class ObjectCopier:
    s3: Any  # the copy principal's client: reads the source, writes the target
    source_bucket: str
    source_prefix: str
    target_bucket: str
    target_prefix: str
    multipart_threshold: int
    part_size: int
    limiter: RateLimiter
    book: UploadBook

    def copy(self, item: S3Object) -> dict:
        """Copy `item`; returns {"bytes", "multipart", "parts", "parts_resumed"}. Raises
        SourceChanged (with the relative key) when the source is not the object listed."""
        try:
            head = self._head_source(item)
            if item.size <= self.multipart_threshold:
                self._copy_whole(item, head)
                return {"bytes": item.size, "multipart": False, "parts": 1, "parts_resumed": 0}
            return self._copy_in_parts(item, head)
        except SourceChanged:
            raise SourceChanged(item.key) from None

    # ------------------------------------------------------------------ single call
    def _copy_whole(self, item: S3Object, head: dict) -> None:
        arguments: dict[str, Any] = {
            "Bucket": self.target_bucket,
            "Key": self.target_prefix + item.key,
            "CopySource": self._source(item),
            "CopySourceIfMatch": item.etag,
            "TaggingDirective": "COPY",
        }
        if head.get("ServerSideEncryption") in KMS_ENCRYPTION:
            arguments.update(self._metadata(item, head), MetadataDirective="REPLACE")
        self.limiter.acquire()
        self._call(self.s3.copy_object, **arguments)

    # ------------------------------------------------------------------ multipart
    def _copy_in_parts(self, item: S3Object, head: dict) -> dict:
        key = self.target_prefix + item.key
        part_size = max(self.part_size, math.ceil(item.size / MAX_PARTS / MIB) * MIB)
        ranges = [
            (number, start, min(item.size, start + part_size) - 1)
            for number, start in enumerate(range(0, item.size, part_size), 1)
        ]
        upload_id, done = self._resume_upload(key, item, part_size)
        resumed = len(done)
        if upload_id is None:
            upload_id = self._start_upload(key, item, head, part_size)
        for number, start, end in ranges:
            if number in done:
                continue
            self.limiter.acquire()
            answer = self._call(
                self.s3.upload_part_copy,
                Bucket=self.target_bucket,
                Key=key,
                UploadId=upload_id,
                PartNumber=number,
                CopySource=self._source(item),
                CopySourceIfMatch=item.etag,
                CopySourceRange=f"bytes={start}-{end}",
            )
            done[number] = answer["CopyPartResult"]["ETag"]
        self.limiter.acquire()
        self._call(
            self.s3.complete_multipart_upload,
            Bucket=self.target_bucket,
            Key=key,
            UploadId=upload_id,
            MultipartUpload={"Parts": [{"PartNumber": n, "ETag": done[n]} for n, _, _ in ranges]},
        )
        self.book.put(key, None)
        return {
            "bytes": item.size,
            "multipart": True,
            "parts": len(ranges),
            "parts_resumed": resumed,
        }

    def _resume_upload(
        self, key: str, item: S3Object, part_size: int
    ) -> tuple[str | None, dict[int, str]]:
        """The recorded upload of this key and its finished parts, if it still exists and was
        started for this very source object and part size; a stale one is aborted."""
        record = self.book.get(key)
        if record is None:
            return None, {}
        if record.get("source_etag") != item.etag or record.get("part_size") != part_size:
            self._abort(key, record["upload_id"])
            return None, {}
        try:
            return record["upload_id"], self._finished_parts(key, record["upload_id"])
        except ClientError as problem:
            if error_code(problem) != "NoSuchUpload":
                raise
            self.book.put(key, None)
            return None, {}

    def _finished_parts(self, key: str, upload_id: str) -> dict[int, str]:
        parts: dict[int, str] = {}
        arguments: dict[str, Any] = {
            "Bucket": self.target_bucket,
            "Key": key,
            "UploadId": upload_id,
        }
        while True:
            page = self.s3.list_parts(**arguments)
            parts.update({part["PartNumber"]: part["ETag"] for part in page.get("Parts", [])})
            if not page.get("IsTruncated"):
                return parts
            arguments["PartNumberMarker"] = page["NextPartNumberMarker"]

    def _start_upload(self, key: str, item: S3Object, head: dict, part_size: int) -> str:
        arguments: dict[str, Any] = {"Bucket": self.target_bucket, "Key": key}
        arguments.update(self._metadata(item, head))
        tags = self.s3.get_object_tagging(
            Bucket=self.source_bucket, Key=self.source_prefix + item.key
        ).get("TagSet", [])
        if tags:
            arguments["Tagging"] = urlencode([(tag["Key"], tag["Value"]) for tag in tags])
        self.limiter.acquire()
        upload_id = self.s3.create_multipart_upload(**arguments)["UploadId"]
        # Recorded before the first part: a kill from here on resumes this upload.
        self.book.put(
            key, {"upload_id": upload_id, "source_etag": item.etag, "part_size": part_size}
        )
        return upload_id

    def _abort(self, key: str, upload_id: str) -> None:
        try:
            self.s3.abort_multipart_upload(Bucket=self.target_bucket, Key=key, UploadId=upload_id)
        except ClientError as problem:
            if error_code(problem) != "NoSuchUpload":
                raise
        self.book.put(key, None)

    # ------------------------------------------------------------------ helpers
    def _head_source(self, item: S3Object) -> dict:
        return self._call(
            self.s3.head_object,
            Bucket=self.source_bucket,
            Key=self.source_prefix + item.key,
            IfMatch=item.etag,
        )

    def _source(self, item: S3Object) -> dict:
        return {"Bucket": self.source_bucket, "Key": self.source_prefix + item.key}

    def _metadata(self, item: S3Object, head: dict) -> dict:
        metadata = dict(head.get("Metadata", {}))
        metadata[SOURCE_ETAG_METADATA] = item.etag
        headers = {name: head[name] for name in CONTENT_HEADERS if head.get(name) is not None}
        return {"Metadata": metadata, **headers}

    @staticmethod
    def _call(operation: Callable[..., dict], **arguments: Any) -> dict:
        try:
            return operation(**arguments)
        except ClientError as problem:
            if error_code(problem) in ("412", "PreconditionFailed"):
                raise SourceChanged() from None
            raise
