"""The TTG planner: ``python -m papersuite.ttg plan "<request in English>"``.

Loads the trained translator and the world of a finished run (tiny by default), prints the symbolic
request it understood and the optimal itinerary, or says clearly why there is none. Bad input gets
a message and a non-zero exit code, never a traceback (``--debug`` shows one).

It also says what it understood field by field (``papersuite.ttg.understanding``): the fields the text
states, those filled by default, those it could not find in the text, and the rule parser's reading where it
differs. In a terminal it asks for confirmation before planning; with ``--json``, ``--yes`` or no terminal it
never waits for input.

Exit codes: 0 itinerary found, 1 no itinerary satisfies the request, 2 unusable input,
3 the translator's output is not a complete request, 4 missing model or world files, 5 an unexpected
error, 6 the person did not confirm the request.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
import time
from pathlib import Path

__all__ = ["main", "plan"]

EXAMPLE = (
    "I live in Paris. I want to visit Rome for 2-3 nights and Vienna for 2 nights. "
    "Leave no earlier than June 10 and be back by June 20. We are 2 people. My budget is $1,500."
)
RELAXATIONS = (
    ("budget", {"budget": None}, "the budget"),
    ("hotel_min_stars", {"hotel_min_stars": None}, "the minimum hotel stars"),
    ("hotel_max_price", {"hotel_max_price": None}, "the hotel price cap"),
    ("nonstop_only", {"nonstop_only": False}, "nonstop flights only"),
    ("depart_time", {"depart_time": None}, "the departure time of day"),
    ("order", {"order": "any"}, "the visiting order"),
)


class PlannerError(Exception):
    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code


def _find_default(relative: str) -> Path:
    """``relative`` under the current directory or the nearest parent that has it (the repo root)."""
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / relative).exists():
            return folder / relative
    return here / relative


def _check_text(text: str, cities: list[str], base_date: str) -> None:
    if not text or not text.strip():
        raise PlannerError(f"The request is empty. Describe your trip in English, for example:\n  {EXAMPLE}", 2)
    if not re.search(r"[A-Za-z]{2,}", text):
        raise PlannerError(f"That does not look like a travel request. For example:\n  {EXAMPLE}", 2)
    words = set(re.findall(r"[a-z]+", text.lower()))
    if not words & {c.lower() for c in cities}:
        raise PlannerError(
            "I could not find a city I know in your request. The cities of this world are: "
            + ", ".join(sorted(cities))
            + f".\nFor example:\n  {EXAMPLE}",
            2,
        )
    from .understanding import impossible_window, looks_english

    if not looks_english(text, cities):
        raise PlannerError(
            f"The planner understands requests in English only. Describe your trip in English, for example:"
            f"\n  {EXAMPLE}",
            2,
        )
    why = impossible_window(text, base_date)
    if why is not None:
        raise PlannerError(f"This request cannot be met: {why}. Widen the dates or ask for fewer nights.", 2)


def describe_request(r: dict) -> list[str]:
    stays = ", ".join(
        f"{d['city']} ({d['min_nights']}"
        + (f"-{d['max_nights']}" if d["max_nights"] != d["min_nights"] else "")
        + " nights)"
        for d in r["destinations"]
    )
    lines = [
        f"  from {r['origin']}, leave on or after {r['earliest_departure']}, back by {r['latest_return']}",
        f"  visit {stays}" + (" in this order" if r["order"] == "listed" else " in any order"),
        f"  travellers: {r['travelers']}",
    ]
    extras = []
    if r["budget"] is not None:
        extras.append(f"budget {r['budget']}")
    if r["hotel_min_stars"] is not None:
        extras.append(f"hotels of {r['hotel_min_stars']}+ stars")
    if r["hotel_max_price"] is not None:
        extras.append(f"hotels at most {r['hotel_max_price']} a night")
    if r["nonstop_only"]:
        extras.append("nonstop flights only")
    if r["depart_time"] is not None:
        extras.append(f"flights in the {r['depart_time']}")
    lines.append("  constraints: " + (", ".join(extras) if extras else "none beyond the above"))
    return lines


def describe_plan(plan: dict) -> list[str]:
    lines = []
    stays = {s["city"]: s for s in plan["stays"]}
    for f in plan["flights"]:
        stop = "nonstop" if f["stops"] == 0 else f"{f['stops']} stop"
        lines.append(
            f"  {f['date']}  fly {f['from']} -> {f['to']}  {f['airline']} {f['id']}, departs "
            f"{f['depart_hour']:02d}:00 ({stop}), {f['price']} per traveller"
        )
        s = stays.get(f["to"])
        if s is not None:
            lines.append(
                f"              stay {s['nights']} night(s) in {s['city']} at hotel {s['hotel']}, "
                f"{s['price_per_night']} per room and night x {plan['rooms']} room(s)"
            )
    lines.append(f"  total: {plan['cost']:.0f} for {plan['travelers']} traveller(s)")
    return lines


def _blocking(request: dict, tables) -> list[str]:
    """Constraints whose removal alone makes the request feasible (a hint for the user)."""
    from .solver import OPTIMAL, solve

    hints = []
    for field, change, label in RELAXATIONS:
        if request.get(field) == change[field]:
            continue
        if solve({**request, **change}, tables)[0] == OPTIMAL:
            hints.append(label)
    return hints


def _check_files(model_dir: Path, world_dir: Path) -> None:
    for p in (world_dir / "cities.parquet", world_dir / "world.json"):
        if not p.exists():
            raise PlannerError(
                f"No world at {world_dir} ({p.name} missing). Run `snakemake --cores 2 ttg` first, or pass --world.", 4
            )
    if not (model_dir / "translator.json").exists():
        raise PlannerError(
            f"No trained translator at {model_dir}. Run `snakemake --cores 2 ttg` first, or pass --model.", 4
        )


def _read_request(output: str, tables, cities: list[str]) -> dict:
    """The symbolic request of the translator's ``output``; a PlannerError (code 3) if incomplete."""
    from .schema import SchemaError, delinearize

    try:
        return delinearize(output, tables.base_date, cities)
    except SchemaError as exc:
        raise PlannerError(
            f"I could not turn that into a complete trip request ({exc}).\n"
            f"The translator wrote: {output!r}\n"
            "Say where you start, where you want to go and for how many nights, and your dates, "
            f"for example:\n  {EXAMPLE}",
            3,
        ) from None


def _warnings(text: str, request: dict, translator) -> list[str]:
    """What the user should check: invented cities, dates the text does not name, unknown words."""
    from .understanding import date_said

    warnings = []
    mentioned = set(re.findall(r"[a-z]+", text.lower()))
    invented = [
        c for c in [request["origin"], *(d["city"] for d in request["destinations"])] if c.lower() not in mentioned
    ]
    if invented:
        warnings.append(f"the translator used cities you did not mention: {', '.join(invented)}")
    unsaid = [request[k] for k in ("earliest_departure", "latest_return") if not date_said(request[k], text)]
    if unsaid:
        warnings.append(f"your request does not name {' or '.join(unsaid)}: check the dates above")
    unknown = translator.unknown_fraction(text)
    if unknown > 0.2:
        warnings.append(
            f"{unknown:.0%} of your words are new to the translator (trained on template English); "
            "check the request below"
        )
    return warnings


def _print_no_plan(request: dict, tables, seconds: dict, out) -> None:
    print("No itinerary satisfies every constraint of this request.", file=out)
    hints = _blocking(request, tables)
    if hints:
        print("It becomes possible without: " + "; or without ".join(hints) + ".", file=out)
    else:
        print("Try a wider date window, fewer nights or fewer destinations.", file=out)
    print(f"({seconds['translate']:.2f} s to translate, {seconds['solve']:.2f} s to solve)", file=out)


def _print_plan(itinerary: dict, request: dict, tables, cost: float, seconds: dict, out) -> None:
    from .validate import validate_plan

    check = validate_plan(itinerary, request, tables, claimed_cost=cost)
    print("Cheapest itinerary:", file=out)
    for line in describe_plan(itinerary):
        print(line, file=out)
    print(
        (
            "  checked: satisfies every constraint above"
            if check.ok
            else "  CHECK FAILED: " + "; ".join(check.violations)
        ),
        file=out,
    )
    print(
        f"({seconds['translate']:.2f} s to translate, {seconds['solve']:.2f} s to solve, "
        f"{seconds['load']:.1f} s to load the translator)",
        file=out,
    )


def describe_fields(report: dict[str, dict]) -> list[str]:
    """The field-by-field notes: defaults, values not found in the text, the rule parser's other reading."""
    names = {"earliest_departure": "departure date", "latest_return": "return date", "travelers": "travellers"}
    label = {f: names.get(f, f.replace("_", " ")) for f in report}
    default = [label[f] for f, r in report.items() if r["source"] == "default"]
    unsure = [label[f] for f, r in report.items() if r["source"] == "unsure"]
    lines = []
    if default:
        lines.append("  filled by default (your request does not say): " + ", ".join(default))
    if unsure:
        lines.append("  please check (not found in your request): " + ", ".join(unsure))
    other = {f: r["rule_parser"] for f, r in report.items() if "rule_parser" in r}
    if other:
        lines.append("  the rule parser reads your request differently:")
        lines += [f"    {label[f]}: translator {report[f]['value']!r}, rule parser {v!r}" for f, v in other.items()]
    return lines


def plan(
    text: str,
    model_dir: Path,
    world_dir: Path,
    threads: int = 1,
    as_json: bool = False,
    constrained: bool = True,
    out=sys.stdout,
    confirm=None,
) -> int:
    """Translate, solve, print; returns the exit code. ``confirm`` (no arguments -> bool), when given, is asked
    after the request is shown and before it is solved."""
    from .understanding import field_report, rule_reading
    from .world import load_tables

    _check_files(model_dir, world_dir)
    tables = load_tables(
        world_dir / "cities.parquet",
        world_dir / "flights.parquet",
        world_dir / "hotels.parquet",
        world_dir / "world.json",
    )
    cities = list(tables.city_names)
    _check_text(text, cities, tables.base_date)

    from .decoding import Translator
    from .solver import OPTIMAL, solve

    start = time.perf_counter()
    translator = Translator(model_dir, threads=threads)
    loaded = time.perf_counter()
    output = translator.translate([text], batch_size=1, cities=cities if constrained else None)[0]
    translated = time.perf_counter()
    request = _read_request(output, tables, cities)
    warnings = _warnings(text, request, translator)
    rule = rule_reading(text, cities, tables.base_date)
    fields = field_report(text, request, rule)
    if not as_json:
        print("I understood:", file=out)
        for line in describe_request(request) + describe_fields(fields):
            print(line, file=out)
        for w in warnings:
            print(f"  note: {w}", file=out)
        print(file=out)
        if confirm is not None and not confirm():
            print("Not planned: rephrase your request and try again.", file=out)
            return 6
    solving = time.perf_counter()
    status, cost, itinerary = solve(request, tables)
    solved = time.perf_counter()
    seconds = {"load": loaded - start, "translate": translated - loaded, "solve": solved - solving}
    if as_json:
        answer = {"request": request, "translator_output": output, "warnings": warnings, "status": status}
        answer.update(cost=cost, plan=itinerary, seconds=seconds, fields=fields, rule_parser=rule)
        json.dump(answer, out, indent=2, sort_keys=True)
        out.write("\n")
        return 0 if status == OPTIMAL else 1
    if status != OPTIMAL:
        _print_no_plan(request, tables, seconds, out)
        return 1
    _print_plan(itinerary, request, tables, cost, seconds, out)
    return 0


def _ask_terminal() -> bool:
    """Ask on the terminal whether to plan the request shown; Enter or "y" means yes."""
    try:
        answer = input("Plan this trip? [Y/n] ")
    except EOFError:
        return True
    return not answer.strip().lower().startswith("n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m papersuite.ttg",
        description="TTG planner: English request -> symbolic request -> optimal itinerary.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("plan", help="plan a trip from a request in English")
    p.add_argument("request", nargs="*", help='the request, e.g. "' + EXAMPLE + '"')
    p.add_argument("--scale", default="tiny", choices=["tiny", "full"], help="which run's translator and world")
    p.add_argument("--seed", type=int, default=0, help="which training seed's translator")
    p.add_argument("--model", type=Path, help="translator directory (default: the run's main translator)")
    p.add_argument("--world", type=Path, help="world directory (default: the run's world tables)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", action="store_true", help="print JSON instead of text (never asks)")
    p.add_argument("--yes", action="store_true", help="plan without asking for confirmation")
    p.add_argument(
        "--unconstrained",
        action="store_true",
        help="plain greedy decoding (default: constrained to the request grammar and the cities named)",
    )
    p.add_argument("--debug", action="store_true", help="show tracebacks and library logs")
    args = parser.parse_args(argv)
    text = " ".join(args.request)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.ERROR)
    if not args.debug:
        import warnings

        warnings.filterwarnings("ignore")
        import os

        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        os.environ.setdefault("TQDM_DISABLE", "1")
    model = args.model or _find_default(f"results/{args.scale}/ttg/models/translator/seed{args.seed}/translator")
    world = args.world or _find_default(f"results/{args.scale}/ttg/data/world")
    try:
        interactive = not (args.json or args.yes) and sys.stdin.isatty() and sys.stdout.isatty()
        return plan(
            text,
            model,
            world,
            threads=args.threads,
            as_json=args.json,
            constrained=not args.unconstrained,
            confirm=_ask_terminal if interactive else None,
        )
    except PlannerError as exc:
        print(str(exc), file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. piped into `head`: stop quietly
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:  # noqa: BLE001 - a person typed this; give a message, not a traceback
        if args.debug:
            raise
        print(
            f"Something went wrong while planning: {type(exc).__name__}: {exc} (rerun with --debug for details)",
            file=sys.stderr,
        )
        return 5


if __name__ == "__main__":
    sys.exit(main())
