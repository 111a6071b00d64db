"""Validating 100,000 messages against a 20-event plan (target: under 2 seconds).

Measures the validator on built messages and the whole `%segment_plan check` path
(build each message from a Segment dict, then check it), with 10 % of the messages
breaking the plan in different ways. Then prints a few violations next to what
jsonschema (the reference implementation) says about the same payloads.
"""

from __future__ import annotations

import argparse
import random
import sys
import time

from segment_magics.messages import build_from_segment_dict
from segment_magics.plan import Plan, PlanValidator, check_messages, load_plan

TARGET_S = 2.0


def twenty_event_plan() -> Plan:
    full = load_plan("ecommerce")
    return Plan("E-commerce, 20 events", full.rules[:20])


def sample_properties(rule_schema: dict, rng: random.Random) -> dict:
    """A payload that satisfies a rule's properties schema (required and optional fields)."""
    out = {}
    for name, sub in (rule_schema.get("properties") or {}).items():
        kind = sub.get("type")
        if kind == "string":
            out[name] = rng.choice(sub.get("enum") or [f"{name}-{rng.randint(1, 999)}"])
        elif kind == "number":
            out[name] = round(rng.uniform(0, 100), 2)
        elif kind == "integer":
            out[name] = rng.randint(1, 50)
        elif kind == "array":
            out[name] = [sample_properties(sub.get("items", {}), rng) for _ in range(2)]
    return out


def messages(plan: Plan, n: int, seed: int = 7) -> list[dict]:
    rng = random.Random(seed)
    rules = [r for r in plan.rules if r.type == "TRACK"]
    out = []
    for i in range(n):
        rule = rules[i % len(rules)]
        props = sample_properties(rule.body_schema, rng)
        if i % 10 == 0:  # 10 % break the plan, four different ways
            fault = (i // 10) % 4
            if fault == 0 and rule.body_schema.get("required"):
                props.pop(rule.body_schema["required"][0], None)
            elif fault == 1:
                props["unplanned_field"] = 1
            elif fault == 2:
                props[next(iter(props), "x")] = {"not": "a scalar"}
            else:
                rule = None  # an unplanned event
        out.append({"type": "track", "event": rule.key if rule else "Order Teleported",
                    "userId": f"u{i % 1000}", "properties": props})  # fmt: skip
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    args = parser.parse_args()
    plan = twenty_event_plan()
    raw = messages(plan, args.events)
    built = [build_from_segment_dict(m).message for m in raw]
    t0 = time.perf_counter()
    validator = PlanValidator(plan)
    compile_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    invalid = sum(1 for m in built if validator.check(m))
    check_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    report = check_messages(validator, raw)
    full_s = time.perf_counter() - t0

    print(
        f"plan: {len(plan.rules)} events; {args.events:,} messages, {invalid:,} breaking the plan"
    )
    print(f"  compile the plan                       {compile_s * 1000:8.1f} ms")
    print(
        f"  validator.check on built messages      {check_s:8.2f} s  ({check_s / args.events * 1e6:.1f} us/message)"
    )
    print(
        f"  %segment_plan check (build + check)    {full_s:8.2f} s  ({full_s / args.events * 1e6:.1f} us/message)"
    )
    print(f"  violations by kind: {dict(report.by_kind)}")
    ok = full_s < TARGET_S
    print(f"\n| target | measured | met |\n| --- | --- | --- |\n| {args.events:,} messages, 20-event plan < {TARGET_S:.0f} s "
          f"(build + check) | {full_s:.2f} s | {'yes' if ok else 'NO'} |")  # fmt: skip

    try:
        import jsonschema
    except ImportError:
        return 0 if ok else 1
    print("\nThe same payloads, our words next to jsonschema's (Draft7Validator):")
    shown = 0
    for message in built:
        ours = validator.check(message)
        rule = plan.rule_for("TRACK", message["event"])
        if not ours or rule is None:
            continue
        theirs = sorted(
            e.message for e in jsonschema.Draft7Validator(rule.json_schema).iter_errors(message)
        )
        for violation in ours:
            print(f"  ours:       {violation}")
        for text in theirs:
            print(f"  jsonschema: {text}")
        shown += 1
        if shown == 3:
            break
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
