"""Copy the old environment's data stores (S3 buckets or prefixes, DynamoDB tables) to the new
environment at a declared point of the cutover, resumably, and prove the copy.

- `run.copy_store(context, store)`: the one entry point (the built-in hooks copy_s3 and
  copy_dynamodb call it): a checked start, the copy from the last checkpoint, the verification,
  the manifest; every failure is one paragraph saying what happened to the data.
- `preflight`: read-only checks that the source exists and can be read and the target exists and
  fits, run by the engine before a cutover changes anything.
- `s3_*`: server-side copy (CopyObject, UploadPartCopy above the multipart threshold),
  incremental by size and ETag, bounded parallelism, verification and manifest.
- `dynamodb_*`: parallel scan segments with a bounded write rate, item count and an
  order-independent checksum.
- `checkpoint`: progress per store in the control plane's state table, so a killed run resumes
  without copying again what is done.

The copy only reads the old environment. Reference: docs/datastores.md.
"""
