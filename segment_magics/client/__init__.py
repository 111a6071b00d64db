"""The one HTTP client: auth, endpoints, retries, batching, the outbox and Result objects."""

from .bulk import BulkResult, Problem
from .endpoints import ENDPOINTS, display_url, is_loopback, resolve_endpoint
from .history import History, HistoryView
from .keys import WriteKey
from .outbox import Outbox
from .result import BatchResult, Result
from .retry import RetryPolicy
from .segment_client import SegmentClient

__all__ = [
    "ENDPOINTS",
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
    "display_url",
    "is_loopback",
    "resolve_endpoint",
]
