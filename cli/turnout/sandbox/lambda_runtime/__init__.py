"""The local Lambda runtime: runs deployed function code for enabled Kinesis event source
mappings of the local AWS emulator, with AWS's semantics (see docs/emulator.md)."""

from .checkpoints import CheckpointStore
from .config import MappingConfig
from .events import build_event, failure_message, parse_batch_item_failures
from .functions import FunctionConfig, InvokeResult
from .runtime import LocalLambdaRuntime

__all__ = [
    "CheckpointStore",
    "FunctionConfig",
    "InvokeResult",
    "LocalLambdaRuntime",
    "MappingConfig",
    "build_event",
    "failure_message",
    "parse_batch_item_failures",
]
