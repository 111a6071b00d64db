"""The one HTTP client: auth, endpoints, retries, batching, the outbox and Result objects."""

from .bulk import BulkResult, Problem
from .endpoints import ENDPOINTS, display_url, is_loopback, resolve_endpoint
from .history import History, HistoryView
from .keys import TOKEN_ENV_VAR, ApiToken, WriteKey, find_api_token
from .outbox import Outbox
from .public_api import PublicApi, PublicApiError
from .result import BatchResult, Result
from .retry import RetryPolicy
from .segment_client import LOCAL_WRITE_KEY, SegmentClient

__all__ = [
    "ENDPOINTS",
    "LOCAL_WRITE_KEY",
    "TOKEN_ENV_VAR",
    "ApiToken",
    "BatchResult",
    "BulkResult",
    "History",
    "HistoryView",
    "Outbox",
    "Problem",
    "PublicApi",
    "PublicApiError",
    "Result",
    "RetryPolicy",
    "SegmentClient",
    "WriteKey",
    "display_url",
    "find_api_token",
    "is_loopback",
    "resolve_endpoint",
]
