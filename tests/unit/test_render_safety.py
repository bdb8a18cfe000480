"""Member text shown back (evidence links, logged questions) can't inject markup, links,
timestamps, mentions or reordering characters."""

from __future__ import annotations

from dataclasses import dataclass

from bot.render import link_target, render, user_text

NASTY = "[x](https://a.example)[Free_Nitro](https://evil.example) ``` <t:0:R> <@&123> @everyone"


def test_user_text_escapes_markup_links_and_mentions():
    shown = user_text(NASTY)
    assert "](" not in shown.replace("\\]", "")  # no live markdown link
    assert "\\<t:0:R\\>" in shown and "<@&" not in shown
    assert "@\u200beveryone" in shown
    assert "https\u200b://" in shown  # the address is shown, not linked
    assert "```" not in shown


def test_controls_and_bidi_are_removed():
    for ch in ("\u202e", "\u2066", "\u200f", "\x85", "\x9b", "\x07", "\ufeff"):
        assert ch not in user_text(f"abc{ch}def")
        assert ch not in link_target(f"https://x.example/{ch}a")


def test_a_link_target_cannot_close_the_link_or_open_another():
    target = link_target("https://x.example/a)[Free_Nitro](https://evil.example/<t:0:R>`x`")
    for ch in "()[]<>` ":
        assert ch not in target
    row = _Row(item=_Item("p1.x", "An item", "a hint"), done=True,
               evidence="https://x.example/a)[Free_Nitro](https://evil.example)")
    body = render("checklist", rows=[row], progress="")
    assert "[evidence](https://x.example/a%29%5BFree_Nitro%5D%28https://evil.example%29)" in body
    marked = render("checklist_marked", done=True, item=row.item, evidence=row.evidence,
                    phase=_Phase(1), progress="", complete=False, next_phase=None,
                    next_item=None)
    assert "[Free_Nitro](" not in marked


@dataclass
class _Item:
    id: str
    title: str
    hint: str


@dataclass
class _Phase:
    number: int


@dataclass
class _Row:
    item: _Item
    done: bool
    evidence: str
