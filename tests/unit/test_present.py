"""Reply → Discord payloads stay within Discord's limits and never lose or garble text."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.engine.replies import Action, Reply, ReplyField
from bot.frontends.discord.present import render, split_text


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=0, max_size=20_000), st.integers(min_value=50, max_value=4096))
def test_split_text_respects_the_limit_and_keeps_every_word(text, limit):
    pieces = split_text(text, limit)
    assert all(len(p) <= limit for p in pieces)
    joined = " ".join(pieces)
    for word in text.split():
        if len(word) < limit // 2:
            assert word in joined


def test_split_text_cuts_at_any_whitespace_before_cutting_a_word():
    # found by the property above: a carriage return separates words as a space does
    text = "0" * 47 + "\r001"
    assert split_text(text, 50) == ["0" * 47, "001"]
    assert split_text("a" * 40 + "\t" + "b" * 20, 50) == ["a" * 40, "b" * 20]


def test_split_text_cuts_at_paragraphs_and_marks_giant_words():
    para = ("word " * 300).strip()
    pieces = split_text(f"{para}\n\n{para}", 2000)
    assert all(not p.endswith("wor") for p in pieces)
    giant = split_text("x" * 5000, 1000)
    assert giant[0].endswith("…") and len(giant[0]) == 1000
    assert sum(len(p.rstrip("…")) for p in giant) == 5000


def test_a_long_reply_becomes_pages_of_embeds_within_limits():
    body = "\n\n".join(f"Paragraph {n}: " + "lorem ipsum dolor " * 60 for n in range(40))
    reply = Reply("T" * 300, body, fields=tuple(ReplyField(f"f{n}", "v" * 2000)
                                                 for n in range(30)),
                  actions=tuple(Action(f"ask:show:f.x{n}", "L" * 100) for n in range(30)),
                  footer="s" * 3000)
    rendered = render(reply)
    assert len(rendered.pages) > 1
    for page in rendered.pages:
        assert len(page) <= 10 and sum(len(e) for e in page) <= 6000
        for embed in page:
            assert len(embed.description or "") <= 4096
            assert len(embed.fields) <= 25
            assert all(len(f.value) <= 1024 for f in embed.fields)
    assert len(rendered.pages[0][0].title) <= 256
    assert len(rendered.view.children) == 25
    assert all(len(b.label) <= 80 for b in rendered.view.children)
    text = " ".join(e.description or "" for p in rendered.pages for e in p)
    assert "Paragraph 39:" in text and "Paragraph 0:" in text
