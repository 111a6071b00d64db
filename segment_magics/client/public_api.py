"""Segment's Public API, the tracking-plan part: read a plan and its rules, replace or
update the rules.

Requests follow Segment's OpenAPI document (v32): ``GET /tracking-plans/{id}``,
``GET .../rules`` paged 200 at a time with ``pagination[count]``/``pagination[cursor]``,
``PUT .../rules`` to replace and ``PATCH .../rules`` to update or insert, at most 200
rules per request (Segment's limit, quoted in its Protocols FAQ). The token
travels only as a Bearer header over HTTPS (plain HTTP is allowed to loopback, for
tests) and never appears in an error, a repr or a log. 429 and 5xx are retried,
honouring ``Retry-After`` (the rules list allows 20 requests a minute).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Literal
from urllib.parse import quote, urlencode, urlsplit

import orjson

from .._version import __version__
from ..errors import SegmentError, ValidationError
from ..plan import Plan, Rule, plan_from_dict
from .endpoints import display_url, is_loopback
from .http_session import HttpSession
from .keys import ApiToken
from .network import Network, proxy_refusal
from .retry import RetryPolicy, is_retryable_status, parse_retry_after
from .scrub import RequestFailed, exchange
from .transport import PROXY_AUTH, describe_failure

REGIONS = {"us": "https://api.segmentapis.com", "eu": "https://eu1.api.segmentapis.com"}
MEDIA_TYPE = "application/vnd.segment.v1+json"
PAGE_SIZE = 200  # the most the API returns per page
MAX_RULES_PER_WRITE = 200  # more in one PUT/PATCH: 422 "rules must contain ... 200 items"
_PLAN_ID = re.compile(r"[A-Za-z0-9_.-]{1,255}")


class PublicApiError(SegmentError):
    """Segment's Public API refused a request or could not be reached (never holds the token)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def api_base(where: str) -> str:
    """``us``, ``eu`` or an https URL (http only to loopback: the token must not travel
    in clear)."""
    text = where.strip().rstrip("/")
    if text.lower() in REGIONS:
        return REGIONS[text.lower()]
    parts = urlsplit(text)
    if parts.hostname and (
        parts.scheme == "https" or (parts.scheme == "http" and is_loopback(text))
    ):
        return text
    raise ValidationError(
        "api",
        f"{where!r} is not us, eu or an https URL (plain http only to this machine, "
        "so the token never travels in clear)",
    )


def check_plan_id(plan_id: str) -> str:
    if not isinstance(plan_id, str) or not _PLAN_ID.fullmatch(plan_id):
        raise ValidationError(
            "plan id",
            f"{plan_id!r} is not a tracking plan id; copy it from the plan's URL in "
            "Segment (app.segment.com/<workspace>/protocols/tracking-plans/<id>)",
        )
    return plan_id


class PublicApi:
    """The tracking-plan endpoints of Segment's Public API, for one token and region."""

    def __init__(
        self,
        token: ApiToken,
        where: str = "us",
        *,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        network: Network | None = None,
    ) -> None:
        self.base = api_base(where)
        self._token = token
        self._retry = retry or RetryPolicy()
        network = network or Network()
        proxy = network.proxy_for(self.base)
        self.shown_proxy = display_url(proxy) if proxy else ""
        self._http = HttpSession(network, self.base, maxsize=2)
        self._timeout = (10.0, timeout)  # connect, read

    def __repr__(self) -> str:
        return f"PublicApi({self.base}, token {self._token.masked})"

    # -- the four operations ----------------------------------------------------------
    def tracking_plan(self, plan_id: str) -> dict[str, Any]:
        """The plan's TrackingPlanV1 object (id, name, type, ...)."""
        data = self._request("GET", f"/tracking-plans/{_path(plan_id)}")
        plan = data.get("trackingPlan")
        if not isinstance(plan, dict):
            raise PublicApiError("Segment's answer has no trackingPlan object")
        return plan

    def rules(self, plan_id: str) -> list[dict[str, Any]]:
        """Every rule of the plan (RuleV1 objects), following the pages to the end."""
        rules: list[dict[str, Any]] = []
        cursor: str | None = None
        seen: set[str] = set()
        while True:
            query = {"pagination[count]": str(PAGE_SIZE)}
            if cursor:
                query["pagination[cursor]"] = cursor
            data = self._request("GET", f"/tracking-plans/{_path(plan_id)}/rules", query)
            page = data.get("rules")
            if not isinstance(page, list):
                raise PublicApiError("Segment's answer has no rules list")
            rules.extend(page)
            pagination = data.get("pagination") or {}
            cursor = pagination.get("next") if isinstance(pagination, dict) else None
            if not cursor:
                return rules
            if cursor in seen:
                raise PublicApiError("Segment's rule pages loop back on themselves")
            seen.add(cursor)

    def pull(self, plan_id: str) -> Plan:
        """The plan and all its rules, as a Plan named like the plan in Segment."""
        plan = self.tracking_plan(plan_id)
        return plan_from_dict({"trackingPlan": plan, "rules": self.rules(plan_id)})

    def replace_rules(self, plan_id: str, rules: Sequence[Rule]) -> None:
        """Make the plan's rules exactly ``rules`` (rules not listed are removed).

        Segment takes at most 200 rules per request, so a bigger plan is replaced with
        its first 200 and the rest are added 200 at a time: the same end state.
        """
        self._write_rules(plan_id, rules, first="PUT")

    def update_rules(self, plan_id: str, rules: Sequence[Rule]) -> None:
        """Update these rules and add the ones Segment does not have; keep the others."""
        self._write_rules(plan_id, rules, first="PATCH")

    def _write_rules(
        self, plan_id: str, rules: Sequence[Rule], first: Literal["PUT", "PATCH"]
    ) -> None:
        path = f"/tracking-plans/{_path(plan_id)}/rules"
        done = 0
        for start in range(0, len(rules), MAX_RULES_PER_WRITE):
            chunk = rules[start : start + MAX_RULES_PER_WRITE]
            body = {"rules": [rule.to_segment() for rule in chunk]}  # RuleV1 each
            try:
                self._succeeded(self._request(first if start == 0 else "PATCH", path, None, body))
            except PublicApiError as exc:
                if not done:
                    raise
                raise PublicApiError(
                    f"{exc} ({done:,} of {len(rules):,} rules were written before this; "
                    "push again to finish)",
                    exc.status,
                ) from None
            done += len(chunk)

    # -- one request, retried ---------------------------------------------------------
    @staticmethod
    def _succeeded(data: dict[str, Any]) -> None:
        if data.get("status") != "SUCCESS":
            raise PublicApiError(
                f"Segment did not confirm the change (status {data.get('status')!r})"
            )

    def _request(
        self,
        method: str,
        path: str,
        query: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """One call of the API, retried as Segment allows. The token is put into the
        headers inside :func:`exchange` only: no frame of ours holds it, and a Ctrl-C or
        a failure leaves none of the HTTP library's frames behind."""
        url = self.base + path + ("?" + urlencode(query) if query else "")
        payload = orjson.dumps(body) if body is not None else None
        retry = self._retry.start()
        while True:
            retry.begin()
            try:
                response = exchange(
                    lambda: self._http.request(
                        method, url, data=payload, headers=self._headers(payload is not None),
                        timeout=self._timeout,
                    ),
                    lambda exc: describe_failure(exc, self.shown_proxy),
                )  # fmt: skip
            except RequestFailed as failed:
                failure = self._error(f"cannot reach {self.base}: {failed.reason}")
                retry_after = None
            else:
                status = response.status_code
                if 200 <= status < 300:
                    return _data(response)
                failure = self._error(
                    proxy_refusal(status, self.shown_proxy)
                    if status == PROXY_AUTH and self.shown_proxy
                    else _refusal(response),
                    status,
                )
                if not is_retryable_status(status):
                    raise failure
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
            wait, gave_up = retry.next_wait(retry_after)
            if gave_up:
                raise failure
            retry.sleep(wait)

    def _headers(self, with_body: bool) -> dict[str, str]:
        headers = {
            "Authorization": self._token.bearer_header(),
            "Accept": f"{MEDIA_TYPE}, application/json",
            "User-Agent": f"segment-magics/{__version__}",
        }
        if with_body:
            headers["Content-Type"] = MEDIA_TYPE
        return headers

    def _error(self, text: str, status: int | None = None) -> PublicApiError:
        """An error in Segment's words, with the token cut out should a server echo it."""
        return PublicApiError(self._token.cut_from(text.encode()).decode(), status)


def _path(plan_id: str) -> str:
    return quote(check_plan_id(plan_id), safe="")


def _data(response: Any) -> dict[str, Any]:
    try:
        parsed = orjson.loads(response.content or b"{}")
    except orjson.JSONDecodeError:
        raise PublicApiError("Segment's answer is not JSON", response.status_code) from None
    data = parsed.get("data") if isinstance(parsed, dict) else None
    if not isinstance(data, dict):
        raise PublicApiError("Segment's answer has no data object", response.status_code)
    return data


_HINTS = {
    401: "the token was refused; check $SEGMENT_PUBLIC_API_TOKEN",
    403: "the token may not change tracking plans (it needs Protocols access)",
    404: "no tracking plan with this id in the token's workspace (or the other region: --api eu)",
    429: "Segment's rate limit; wait a minute and try again",
}


def _refusal(response: Any) -> str:
    """The API's own words (``errors[].message``), with what to do about it."""
    words = ""
    try:
        parsed = orjson.loads(response.content or b"{}")
        errors = parsed.get("errors") if isinstance(parsed, dict) else None
        if isinstance(errors, list):
            words = "; ".join(
                str(e.get("message") or e.get("type"))[:300] for e in errors if isinstance(e, dict)
            )
    except orjson.JSONDecodeError:
        pass
    hint = _HINTS.get(response.status_code, "")
    text = f"Segment's Public API answered {response.status_code}"
    text += f": {words}" if words else ""
    return text + (f" ({hint})" if hint else "")
