"""The house rules every wing follows (docs/adding-a-paper.md): one naming scheme from rule to function,
a registry instead of shared lists, common.smk free of papers, short functions, self-contained docs."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest
import yaml

from workflow_helpers import REPO

PAPER_IDS = ("socm", "wfm", "mfm", "lagot", "taskmet", "ttg", "bytelm", "tokenbounds", "advprompter", "oni")
ENABLED = yaml.safe_load((REPO / "config" / "config.yaml").read_text())["papers"]
RULE = re.compile(r"^rule (\w+):\n(.*?)(?=^(?:rule |use rule |register_wing|\Z))", re.M | re.S)
SCRIPT = re.compile(r'script:\s*\n\s*"\.\./scripts/(\w+)/(\w+)\.py"')


def rules_with_scripts() -> list[tuple[str, str, str, str]]:
    """(rule file stem, rule name, script folder, script name) of every rule that runs a script."""
    found = []
    for smk in sorted((REPO / "workflow" / "rules").glob("*.smk")):
        for match in RULE.finditer(smk.read_text()):
            script = SCRIPT.search(match.group(2))
            if script:
                found.append((smk.stem, match.group(1), *script.groups()))
    return found


def test_rules_were_found():
    files = {stem for stem, *_ in rules_with_scripts()}
    assert set(ENABLED) <= files and {"sources", "report"} <= files


@pytest.mark.parametrize("stem,rule,folder,step", rules_with_scripts())
def test_rule_script_and_function_share_the_step_name(stem, rule, folder, step):
    """Rule <id>_<step> runs scripts/<id>/<step>.py, which calls steps.<step> of papersuite.<id>; a shared
    rule <step> runs scripts/common/<step>.py, which calls steps.<step> of papersuite.core."""
    if stem in PAPER_IDS:
        assert (folder, rule) == (stem, f"{stem}_{step}"), f"rule {rule} runs scripts/{folder}/{step}.py"
        package = stem
    else:
        assert (folder, rule) == ("common", step), f"shared rule {rule} runs scripts/{folder}/{step}.py"
        package = "core"
    script = (REPO / "workflow" / "scripts" / folder / f"{step}.py").read_text()
    assert f"from papersuite.{package} import steps\n" in script, f"scripts/{folder}/{step}.py"
    calls = re.findall(r"^steps\.(\w+)\(", script, re.M)
    assert calls == [step], f"scripts/{folder}/{step}.py calls steps.{calls}, not steps.{step}(...) once"
    steps = importlib.import_module(f"papersuite.{package}.steps")
    assert callable(getattr(steps, step, None)), f"papersuite.{package}.steps has no {step}()"


def test_every_script_belongs_to_a_rule():
    used = {(folder, step) for *_, folder, step in rules_with_scripts()}
    scripts = {(p.parent.name, p.stem) for p in (REPO / "workflow" / "scripts").rglob("*.py")}
    assert scripts <= used, f"scripts no rule runs: {sorted(scripts - used)}"


def test_common_smk_is_short_and_names_no_paper():
    text = (REPO / "workflow" / "rules" / "common.smk").read_text()
    assert len(text.splitlines()) <= 200
    named = [paper for paper in PAPER_IDS if re.search(rf"\b{paper}\b", text)]
    assert not named, f"common.smk names papers {named}: their helpers belong in workflow/rules/<id>_helpers.smk"


def test_each_wing_registers_its_outputs_from_its_table_rule():
    for paper in ENABLED:
        text = (REPO / "workflow" / "rules" / f"{paper}.smk").read_text()
        assert re.search(rf'register_wing\(\s*"{paper}",.*?rules\.{paper}_table\.output', text, re.S), paper
    snakefile = (REPO / "workflow" / "Snakefile").read_text()
    assert "PAPER_OUTPUTS" not in snakefile + (REPO / "workflow" / "rules" / "common.smk").read_text()
    for paper in ENABLED:
        assert f'include: "rules/{paper}.smk"' in snakefile


def src_functions():
    for module in sorted((REPO / "src").rglob("*.py")):
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                yield module.relative_to(REPO), node.name, node.end_lineno - node.lineno + 1


def test_no_function_in_src_is_over_100_lines():
    long = [f"{module}:{name} ({lines} lines)" for module, name, lines in src_functions() if lines > 100]
    assert not long, long


def test_no_module_in_src_is_over_500_lines():
    long = [str(m.relative_to(REPO)) for m in (REPO / "src").rglob("*.py") if len(m.read_text().splitlines()) > 500]
    assert not long, long


# A citation of a section of our private specs ("spec B3", "(A1.2)", "A-T2") or of their folder (shared[/]):
# a clone has neither, so code cites the paper or docs/papers/<id>.md instead.
SPEC_CITATION = re.compile(
    r"\bspecs?\b [A-B]?[0-9]|\bspec [AB]\b|\(spec\s|\bshared[/]|\b[AB][0-9]\.[0-9]|\b[AB]-T[0-9]"
)


def test_nothing_cites_the_specs_or_shared():
    cited = []
    for folder in ("src", "workflow", "tests", "config", "docs", "tools"):
        for path in sorted((REPO / folder).rglob("*")):
            if path.suffix in {".py", ".smk", ".yaml", ".md", ".rst"} or path.name == "Snakefile":
                if path.name == Path(__file__).name:
                    continue
                for number, line in enumerate(path.read_text().splitlines(), 1):
                    if SPEC_CITATION.search(line):
                        cited.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    assert not cited, "\n".join(cited[:40])
