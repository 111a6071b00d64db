"""The one HTTP client: auth, endpoints, retries, batching, the outbox and Result objects."""

from .bulk_options import BulkOptions
from .bulk_result import BulkResult, Problem
from .endpoints import ENDPOINTS, display_url, is_loopback, resolve_endpoint
from .history import History, HistoryView
from .keys import TOKEN_ENV_VAR, ApiToken, WriteKey, find_api_token, find_write_key
from .outbox import Outbox
from .public_api import PublicApi, PublicApiError
from .remedies import Remedy, python_phrase
from .result import BatchResult, Outcome, Result
from .retry import RetryPolicy
from .segment_client import LOCAL_WRITE_KEY, PLAN_MODES, PlanMode, SegmentClient

__all__ = [
    "ENDPOINTS",
    "LOCAL_WRITE_KEY",
    "PLAN_MODES",
    "TOKEN_ENV_VAR",
    "ApiToken",
    "BatchResult",
    "BulkOptions",
    "BulkResult",
    "History",
    "HistoryView",
    "Outbox",
    "Outcome",
    "PlanMode",
    "Problem",
    "PublicApi",
    "PublicApiError",
    "Remedy",
    "Result",
    "RetryPolicy",
    "SegmentClient",
    "WriteKey",
    "display_url",
    "find_api_token",
    "find_write_key",
    "is_loopback",
    "python_phrase",
    "resolve_endpoint",
]
