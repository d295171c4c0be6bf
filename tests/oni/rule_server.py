"""A rule-based responder served through papersuite.oni.server, for the unit tests' known answers only.

Classification: FOO when the rated message mentions gold or a kill, else BAR. Ranking: the description with more such
keywords wins, equal counts tie. A message containing SLOW delays the answer by 3 s (the timeout test).
"""

from __future__ import annotations

import re
import time

from papersuite.oni.server import make_app, serve_on_free_port

KEYWORDS = ("gold", "kill")
RATE = re.compile(r'Please rate this message: \{"(.*)"\}')
DESCRIPTION = re.compile(r'"description_([12])":\n"(.*)"')


def _score(message: str) -> int:
    return sum(word in message.lower() for word in KEYWORDS)


def _respond_one(prompt: str) -> str:
    if "SLOW" in prompt:
        time.sleep(3.0)
    rated = RATE.search(prompt)
    if rated is not None:
        label = "FOO" if _score(rated.group(1)) else "BAR"
        return f"<knowledge> rules </knowledge> <analysis> keywords </analysis> <label> {label} </label>"
    first, second = (_score(m) for _, m in sorted(DESCRIPTION.findall(prompt)))
    best = "1" if first > second else "2" if second > first else "None"
    return f'Analysis done. ("best_description": {best})'


def respond(prompts: list[str], temperature: float, max_tokens: int) -> list[str]:
    """One rule-based completion per prompt, in order."""
    return [_respond_one(p) for p in prompts]


if __name__ == "__main__":
    serve_on_free_port(make_app(respond, model_name="rule-based"))
