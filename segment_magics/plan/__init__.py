"""Tracking plans: load, write compactly, validate before sending, infer, diff, export."""

from .audit import audit
from .audit_report import AuditReport
from .check import check_messages, iter_messages
from .compact import parse_compact
from .compare import RuleChange, compare_rules, to_send
from .infer import diff_plan, infer_plan
from .load import PlanSource, load_plan, plan_from_dict, save_plan
from .model import Plan, Rule
from .report import (
    CheckReport,
    DiffView,
    InferenceView,
    MergeView,
    PlanLoaded,
    PlanView,
    PushMode,
    PushView,
    violation_table,
)
from .templates import TEMPLATES
from .validate import PlanValidator, Violation

__all__ = [
    "TEMPLATES",
    "AuditReport",
    "CheckReport",
    "DiffView",
    "InferenceView",
    "MergeView",
    "Plan",
    "PlanLoaded",
    "PlanSource",
    "PlanValidator",
    "PlanView",
    "PushMode",
    "PushView",
    "Rule",
    "RuleChange",
    "Violation",
    "audit",
    "check_messages",
    "compare_rules",
    "diff_plan",
    "infer_plan",
    "iter_messages",
    "load_plan",
    "parse_compact",
    "plan_from_dict",
    "save_plan",
    "to_send",
    "violation_table",
]
