"""The one HTTP client: auth, endpoints, retries, batching and Result objects."""

from .core import MAX_BATCH_BYTES, MAX_BATCH_MESSAGES, SegmentClient, pack_batches
from .endpoints import ENDPOINTS, display_url, is_loopback, resolve_endpoint
from .history import History, HistoryView
from .keys import WriteKey, find_write_key
from .result import BatchResult, Result
from .retry import RetryPolicy, is_retryable_status

__all__ = [
    "ENDPOINTS",
    "MAX_BATCH_BYTES",
    "MAX_BATCH_MESSAGES",
    "BatchResult",
    "History",
    "HistoryView",
    "Result",
    "RetryPolicy",
    "SegmentClient",
    "WriteKey",
    "display_url",
    "find_write_key",
    "is_loopback",
    "is_retryable_status",
    "pack_batches",
    "resolve_endpoint",
]
