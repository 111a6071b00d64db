"""Tracking plans: load, write compactly, validate before sending, infer, diff, export."""

from .check import as_message, check_messages, iter_messages
from .compact import parse_compact
from .infer import Difference, Inferred, diff_plan, infer_plan
from .model import RULE_TYPES, Plan, Rule, load_plan, plan_from_dict, save_plan
from .report import CheckReport, DiffView, InferenceView, PlanView, violation_table
from .templates import TEMPLATES
from .validate import KINDS, PlanValidator, Violation, validator_for

__all__ = [
    "KINDS",
    "RULE_TYPES",
    "TEMPLATES",
    "CheckReport",
    "DiffView",
    "Difference",
    "InferenceView",
    "Inferred",
    "Plan",
    "PlanValidator",
    "PlanView",
    "Rule",
    "Violation",
    "as_message",
    "check_messages",
    "diff_plan",
    "infer_plan",
    "iter_messages",
    "load_plan",
    "parse_compact",
    "plan_from_dict",
    "save_plan",
    "validator_for",
    "violation_table",
]
