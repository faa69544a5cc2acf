"""Accuracy and latency of the rule parser over the case table (tests/parser_cases.py).

Run from the repository root::

    python benchmarks/parser_accuracy.py [--repeats 30] [--bar-ms 2.0]

Prints exact-plan accuracy (the JSON plan and the flags the case expects: ``changes`` for a
refinement, a reply, a partial-understanding note), per-field accuracy (target, action,
fidelity, command, number of edits; error cases count as right when InstructionError is raised)
and parse latency (each
instruction is parsed ``--repeats`` times after a warm-up; its median is its latency; the table
shows the median and p95 over instructions). Exits 1 when exact-plan accuracy is below 100% or
the median or p95 latency is at or above ``--bar-ms``.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from parsers import Edit, EditPlan, InstructionError, parse  # noqa: E402

logger = logging.getLogger("parser_accuracy")
FIELDS = ("target", "action", "fidelity", "command", "count")


def load_cases() -> list:
    spec = importlib.util.spec_from_file_location("parser_cases", ROOT / "tests" / "parser_cases.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules[spec.name] = module  # dataclasses look their module up while building the class
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module.CASES


def run_case(case) -> tuple[EditPlan | None, bool]:  # noqa: ANN001 - tests.parser_cases.Case
    previous = None if case.previous is None else EditPlan(edits=tuple(Edit(*row) for row in case.previous))
    try:
        return parse(case.text, previous), False
    except InstructionError:
        return None, True


def score(case, plan: EditPlan | None, raised: bool) -> dict[str, bool]:  # noqa: ANN001
    """Per-field and exact correctness of one case."""
    if case.error or raised:
        ok = case.error and raised
        return {name: ok for name in (*FIELDS, "exact")}
    got, want = plan.to_dict(), case.expected
    column = {name: lambda d, n=name: [e[n] for e in d["edits"]] for name in ("target", "action", "fidelity")}
    result = {name: column[name](got) == column[name](want) for name in column}
    result["command"] = got["command"] == want["command"]
    result["count"] = len(got["edits"]) == len(want["edits"])
    flags_ok = (bool(plan.changes) == case.refinement
                and (not case.reply or (plan.message and not plan.edits))
                and (not plan.edits or (plan.message is not None) == case.note))
    result["exact"] = got == want and bool(flags_ok)
    return result


def latency_ms(case, repeats: int) -> float:  # noqa: ANN001
    run_case(case)  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run_case(case)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    args_parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    args_parser.add_argument("--repeats", type=int, default=30, help="timed parses per instruction")
    args_parser.add_argument("--bar-ms", type=float, default=2.0, help="latency bar (median and p95)")
    args = args_parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)

    cases = load_cases()
    scores = [score(case, *run_case(case)) for case in cases]
    latencies = sorted(latency_ms(case, args.repeats) for case in cases)
    median = statistics.median(latencies)
    p95 = latencies[min(len(latencies) - 1, round(0.95 * (len(latencies) - 1)))]

    def pct(name: str, rows: list[dict[str, bool]]) -> str:
        return f"{100 * sum(r[name] for r in rows) / len(rows):6.1f}%"

    groups = sorted({c.group for c in cases})
    width = max(len(g) for g in [*groups, "group"])
    lines = [f"Rule parser over {len(cases)} cases ({ROOT / 'tests' / 'parser_cases.py'})", "",
             f"| {'group':<{width}} | {'cases':>5} | {'exact':>7} | "
             + " | ".join(f"{f:>8}" for f in FIELDS) + " |",
             "|" + "---|" * (3 + len(FIELDS))]
    for group in [*groups, "all"]:
        rows = [s for s, c in zip(scores, cases, strict=True) if group in ("all", c.group)]
        lines.append(f"| {group:<{width}} | {len(rows):>5} | {pct('exact', rows)} | "
                     + " | ".join(f"{pct(f, rows):>8}" for f in FIELDS) + " |")
    lines += ["", f"latency per instruction (median of {args.repeats} parses each): median {median:.3f} ms, "
              f"p95 {p95:.3f} ms, max {latencies[-1]:.3f} ms (bar < {args.bar_ms:g} ms)"]
    failed = [c.text for s, c in zip(scores, cases, strict=True) if not s["exact"]]
    for text in failed:
        lines.append(f"  wrong: {text!r}")
    accuracy_ok = not failed
    latency_ok = median < args.bar_ms and p95 < args.bar_ms
    lines.append(f"exact-plan accuracy {'OK' if accuracy_ok else 'BELOW 100%'}; "
                 f"latency {'OK' if latency_ok else 'OVER THE BAR'}")
    logger.info("\n".join(lines))
    return 0 if accuracy_ok and latency_ok else 1


if __name__ == "__main__":
    sys.exit(main())
