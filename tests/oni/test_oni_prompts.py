"""Known answers of the annotator's prompt formatting and label parsing (docs/papers/oni.md, "Known answers")."""

from __future__ import annotations

import pytest

from papersuite.oni.prompts import (
    FIRST,
    SECOND,
    SYSTEM_PROMPT,
    TIE,
    chat_llama3,
    classification_prompt,
    parse_classification,
    parse_classification_strict,
    parse_ranking,
    ranking_prompt,
)


@pytest.mark.parametrize(
    ("completion", "label"),
    [
        ("<knowledge>k</knowledge> <analysis>a</analysis> <label> FOO </label>", 1),
        ("<label> BAR </label>", 0),
        ("the answer is FOO, not BAR", 1),
        ("<label> [FOO/BAR] </label>", 1),  # the echo hazard, replicated
    ],
)
def test_classification_label_is_foo_anywhere_else_bar(completion, label):
    assert parse_classification(completion) == label


def test_unparseable_classification_is_0_with_a_warning():
    with pytest.warns(UserWarning, match="no FOO/BAR"):
        assert parse_classification("I cannot tell.") == 0


def test_strict_parser_reads_only_a_label_tag():
    assert parse_classification_strict("<label> FOO </label>") == 1
    assert parse_classification_strict("<label>BAR</label>") == 0
    assert parse_classification_strict("<label> [FOO/BAR] </label>") is None
    assert parse_classification_strict("FOO") is None


@pytest.mark.parametrize(
    ("completion", "label"),
    [
        ('So ("best_description": 1).', FIRST),
        ('("best_description": 2)', SECOND),
        ('("best_description": None)', TIE),
        ('("Best_Description" : 2)', SECOND),
        ("best description: none", TIE),
        ('"BEST_DESCRIPTION": is 1', FIRST),
        ("garbage without an answer", TIE),
    ],
)
def test_ranking_regex_tolerates_case_and_spacing(completion, label):
    assert parse_ranking(completion) == label


def test_classification_prompt_quotes_the_message_and_states_the_format():
    prompt = classification_prompt("You hear bubbling water.")
    assert '{"You hear bubbling water."}' in prompt
    assert prompt.count("Example") == 4 and "<label> [FOO/BAR] </label>" in prompt
    assert "killing monsters" in prompt
    assert '5 gold pieces." should be labelled BAR' in classification_prompt("x", goal="combat")


def test_ranking_prompt_holds_both_descriptions_in_order():
    prompt = ranking_prompt("It's a wall.", "$ - 10 gold pieces.")
    first, second = prompt.index('"description_1":\n"It\'s a wall."'), prompt.index('"description_2":\n"$ - 10 gold')
    assert first < second and '("best_description": None)' in prompt


def test_llama3_chat_leaves_the_assistant_turn_open():
    text = chat_llama3(SYSTEM_PROMPT, "hi")
    assert text.startswith("<|begin_of_text|><|start_header_id|>system<|end_header_id|>")
    assert text.endswith("<|start_header_id|>assistant<|end_header_id|>\n\n")
    assert text.count("<|eot_id|>") == 2
