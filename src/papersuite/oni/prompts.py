"""The annotator's prompts and label parsers (ONI, Sec. 3 and App. "Prompts"; docs/papers/oni.md, "Annotator").

The wording is ours; the structure follows the paper's code: a NetHack-judge system prompt, a classification prompt
with a goal sentence, four few-shot messages and a `<label> FOO|BAR </label>` answer, and Motif's pairwise ranking
prompt answered with `("best_description": 1|2|None)`.
"""

from __future__ import annotations

import re
import warnings

__all__ = [
    "SYSTEM_PROMPT",
    "GOALS",
    "FIRST",
    "SECOND",
    "TIE",
    "chat_llama3",
    "classification_prompt",
    "fewshot_classification_prompt",
    "llama3_classification_prompt",
    "CLASSIFICATION_PROMPTS",
    "ranking_prompt",
    "parse_classification",
    "parse_classification_strict",
    "parse_ranking",
]

SYSTEM_PROMPT = (
    "You are a helpful and honest judge of good gameplaying and progress in the NetHack game. Answer as helpfully "
    "as you can while staying truthful. If you do not know the answer, do not share false information."
)

GOALS = {
    "defaultgoal": "I prefer agents that maximize the score in the game, for instance by killing monsters, collecting "
    "gold or going down the stairs in the dungeon.",
    "zeroknowledge": "",
    "combat": "I prefer agents that engage in combat, for instance by killing monsters, and never agents that collect "
    "gold or go down the dungeon.",
    "gold": "I prefer agents that maximize their gold, and never agents that score in other ways or go down.",
    "stairs": "I prefer agents that go down the dungeon as far as possible, never ones that fight or collect gold.",
}

# The four few-shot messages of the classification prompt with their labels under each goal (paper's code)
FEW_SHOT = {
    "defaultgoal": [("You kill the goblin!  Welcome to experience level 4", "FOO"),
                    ("You hear someone counting money.", "FOO"), ("5 gold pieces.", "FOO"),
                    ("That door is closed.", "BAR")],
    "combat": [("You kill the goblin!  Welcome to experience level 4", "FOO"),
               ("You hear someone counting money.", "BAR"), ("5 gold pieces.", "BAR"),
               ("That door is closed.", "BAR")],
    "gold": [("You kill the goblin!  Welcome to experience level 4", "BAR"),
             ("You hear someone counting money.", "FOO"), ("5 gold pieces.", "FOO"),
             ("That door is closed.", "BAR")],
}  # fmt: skip

FIRST, SECOND, TIE = 0, 1, 2  # ranking labels: description 1 better, 2 better, neither
_RANKING = re.compile(r"best[_\s]*description\W*(?:\w+\s*)?(1|2|none)", re.IGNORECASE)
_STRICT_LABEL = re.compile(r"<label>\s*(FOO|BAR)\s*</label>")


def chat_llama3(system: str, user: str) -> str:
    """A Llama-3 chat transcript with the assistant turn left open (the paper's hand-made conversation template)."""
    return (
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
        f"{system}<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n"
        f"{user}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
    )


def classification_prompt(message: str, goal: str = "defaultgoal") -> str:
    """The user turn asking if `message` is helpful (FOO) or not (BAR) for `goal` (ONI-Retrieval/-Classification)."""
    shots = "\n".join(f'Example {i}: "{m}" should be labelled {lab}.' for i, (m, lab) in enumerate(FEW_SHOT[goal], 1))
    return (
        "Context: I am playing NetHack and I will present you a message from the gameplay.\n\n"
        "Instruction: First, tell me about your knowledge of NetHack and its goal. Then write a one-sentence analysis "
        "of the message. Finally, label whether the situation the message describes is helpful for making progress "
        f"towards the goal. {GOALS[goal]}\n"
        "For extremely helpful messages assign the label FOO; for unhelpful, neutral and lukewarm ones assign BAR.\n\n"
        f"{shots}\n\n"
        f'Please rate this message: {{"{message}"}}\n\n'
        "Constraint: answer strictly in this format without additional explanation:\n"
        "<knowledge> [your knowledge of NetHack] </knowledge>\n"
        "<analysis> [your one-sentence analysis of the message] </analysis>\n"
        "<label> [FOO/BAR] </label>\n"
    )


def fewshot_classification_prompt(message: str, goal: str = "defaultgoal") -> str:
    """A raw few-shot completion ending in `Label:` for a small base-style model (tiny scale; docs/papers/oni.md,
    "Tiny annotator"): the paper's four few-shot messages with their `goal` labels, alternating BAR/FOO."""
    shots = sorted(FEW_SHOT[goal], key=lambda shot: shot[1] == "FOO")  # BAR first, then FOO: no recency on BAR
    lines = "".join(f'Message: "{m}"\nLabel: {lab}\n\n' for m, lab in shots)
    return (
        "NetHack messages labelled FOO (helpful for progress towards the goal) or BAR (unhelpful, neutral or "
        f'lukewarm). Goal: {GOALS[goal]}\n\n{lines}Message: "{message}"\nLabel:'
    )


def llama3_classification_prompt(message: str, goal: str = "defaultgoal") -> str:
    """The paper's full request: the classification prompt as the user turn of a Llama-3 chat with the judge's
    system prompt, the assistant turn open (for a server that does not apply a chat template, e.g. vLLM)."""
    return chat_llama3(SYSTEM_PROMPT, classification_prompt(message, goal))


# prompt styles: "paper" (the user turn; a server applying its chat template), "llama3" (the paper's transcript),
# "fewshot" (a raw completion for a small model at tiny scale)
CLASSIFICATION_PROMPTS = {
    "paper": classification_prompt,
    "llama3": llama3_classification_prompt,
    "fewshot": fewshot_classification_prompt,
}


def ranking_prompt(message_1: str, message_2: str, goal: str = "defaultgoal") -> str:
    """Motif's pairwise prompt: which of two gameplay descriptions makes more progress towards `goal` (ONI-Ranking)."""
    return (
        "I will present you with two short gameplay descriptions.\n"
        f"First, tell me about your knowledge of NetHack and its goal. {GOALS[goal]}\n"
        "Then analyse the semantics of each description using only the descriptions (which may be empty) and your "
        "knowledge of NetHack, and compare them from first principles.\n"
        'Finally, declare which one most likely makes progress towards the goal, writing ("best_description": 1) or '
        '("best_description": 2). You could also say ("best_description": None).\n\n'
        f'{{\n"description_1":\n"{message_1}"\n}}\n\n{{\n"description_2":\n"{message_2}"\n}}\n'
    )


def parse_classification(completion: str) -> int:
    """The paper's parser: 1 if "FOO" occurs anywhere, else 0 ("BAR" or unparseable, the latter with a warning).

    Faithful to the original, so a completion that echoes the format line "[FOO/BAR]" parses as 1.
    """
    if "FOO" in completion:
        return 1
    if "BAR" not in completion:
        warnings.warn(f"no FOO/BAR label in completion {completion[:80]!r}; labelled 0", stacklevel=2)
    return 0


def parse_classification_strict(completion: str) -> int | None:
    """The stricter option: the label inside the last `<label> FOO|BAR </label>`, None when there is none."""
    found = _STRICT_LABEL.findall(completion)
    return None if not found else int(found[-1] == "FOO")


def parse_ranking(completion: str) -> int:
    """`("best_description": 1|2|None)` (any case, spacing) -> FIRST/SECOND/TIE; unparseable -> TIE."""
    match = _RANKING.search(completion)
    if match is None:
        return TIE
    return {"1": FIRST, "2": SECOND}.get(match.group(1).lower(), TIE)
