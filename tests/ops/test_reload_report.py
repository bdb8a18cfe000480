"""How reload reports are cut to fit one Discord embed."""

from __future__ import annotations

from bot.ops.reload import clip_lines, fit_embed


def test_clip_lines_keeps_whole_lines_and_counts_the_rest():
    lines = [f"intents/topics.yaml:{n}: intents[{n}].title: Input should be a valid string"
             for n in range(200)]
    text = clip_lines("head:", lines, limit=1000)
    assert len(text) <= 1000 and text.startswith("head:\n")
    shown = text.splitlines()[1:-1]
    assert shown == lines[: len(shown)]
    assert text.endswith(f"… and {len(lines) - len(shown)} more")


def test_clip_lines_without_clipping_and_with_one_huge_line():
    assert clip_lines("head:", ["a", "b"]) == "head:\na\nb"
    huge = clip_lines("head:", ["x" * 10_000])
    assert len(huge) < 600 and huge.endswith("…")


def test_fit_embed_cuts_at_a_line_end_and_marks_it():
    text = "\n".join("line \\_with\\_escapes " * 5 for _ in range(100))
    cut = fit_embed(text, 4000)
    assert len(cut) <= 4000 and cut.endswith("\n… (clipped)")
    assert text.startswith(cut.removesuffix("\n… (clipped)"))
    assert fit_embed("short") == "short"
