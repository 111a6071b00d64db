"""The one HTTP client: auth, endpoints, retries, batching and Result objects."""

from ..messages import MAX_BATCH_BYTES, MAX_BATCH_MESSAGES
from .bulk import BulkResult, Problem, pack_batches
from .core import SegmentClient
from .endpoints import ENDPOINTS, display_url, is_loopback, resolve_endpoint
from .history import History, HistoryView
from .keys import WriteKey, find_write_key
from .outbox import Outbox, default_outbox_path
from .result import BatchResult, Result
from .retry import RetryPolicy, is_retryable_status

__all__ = [
    "ENDPOINTS",
    "MAX_BATCH_BYTES",
    "MAX_BATCH_MESSAGES",
    "BatchResult",
    "BulkResult",
    "History",
    "HistoryView",
    "Outbox",
    "Problem",
    "Result",
    "RetryPolicy",
    "SegmentClient",
    "WriteKey",
    "default_outbox_path",
    "display_url",
    "find_write_key",
    "is_loopback",
    "is_retryable_status",
    "pack_batches",
    "resolve_endpoint",
]
