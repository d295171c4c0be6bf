"""Known answers of the message codec and the episodic count scaling (docs/papers/oni.md, "Known answers")."""

from __future__ import annotations

import numpy as np
import pytest

from papersuite.oni.messages import EpisodeMessageCounts, count_coefficient, decode_message, encode_message


@pytest.mark.parametrize("text", ["", "5 gold pieces.", "You kill the newt!", "é" * 10, "x" * 256])
def test_decode_inverts_encode_for_latin1_up_to_256_bytes(text):
    codes = encode_message(text)
    assert codes.shape == (256,) and codes.dtype == np.int64
    assert decode_message(codes) == text
    assert (codes[len(text) :] == 0).all()


def test_zero_bytes_are_dropped_and_overlong_messages_refused():
    raw = np.zeros(256, dtype=np.uint8)
    raw[:3] = [72, 105, 33]
    assert decode_message(raw) == "Hi!"
    with pytest.raises(ValueError):
        encode_message("x" * 257)


def test_episode_counts_of_A_A_B_A_give_1_1over8_1_1over27_and_reset():
    counts = EpisodeMessageCounts()
    seen = [counts.observe(m) for m in ["A", "A", "B", "A"]]
    assert seen == [1, 2, 1, 3]
    assert count_coefficient(np.array(seen), beta=3.0) == pytest.approx([1, 1 / 8, 1, 1 / 27])
    counts.reset()
    assert counts.observe("A") == 1
