"""PNG pictures for people who would rather look than read: a member's progress card and the
server's stats charts (issue 15). The text stays in the message for screen readers; these
are the same figures drawn.

Pure functions from plain frozen data to PNG bytes, drawn with Pillow and its bundled FreeType
font (``ImageFont.load_default(size=…)``), so no font file ships with the bot. That font covers
basic Latin only: member text is cleaned (controls and bidi overrides removed, accents folded
to their base letter when the accented one is missing, clipped with "…" to its box) and any
other missing glyph shows as a box; nothing a member types can make drawing fail.

The pictures have an opaque dark background of their own, so they read the same on Discord's
dark and light themes. The number of phases always comes from the data.
"""

from __future__ import annotations

import io
import math
import threading
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont

from bot.render import strip_controls

CARD_SIZE = (800, 400)
CHARTS_SIZE = (1000, 700)
#: the funnel panel shows the items most members have done, at most this many
FUNNEL_TOP = 8
#: the weekly panels show at most the latest this many weeks
WEEKS_SHOWN = 12
#: member text longer than this is cut before any measuring (no line shows more anyway)
_TEXT_PRECLIP = 160

# Colours: light text on an opaque slate background, saturated bars; readable on both themes.
BG = (30, 33, 41)
PANEL = (39, 43, 54)
BORDER = (66, 72, 88)
TRACK = (55, 60, 74)
TEXT = (240, 242, 246)
MUTED = (163, 170, 186)
ACCENT = (91, 141, 239)  # blue: current phase, activity
DONE = (67, 181, 129)  # green: done
STREAK = (240, 178, 50)  # amber: streak
ALERT = (237, 111, 122)  # pink-red: unanswered

#: the cached fonts are shared: FreeType faces must not be used by two threads at once, so one
#: picture is drawn at a time (the functions may be called through ``asyncio.to_thread``)
_DRAWING = threading.RLock()

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont
Colour = tuple[int, int, int]


@dataclass(frozen=True)
class PhaseBar:
    """One phase's checklist: ``done`` of ``total`` items."""

    number: int
    title: str
    done: int
    total: int


@dataclass(frozen=True)
class ProgressCard:
    """What a member's progress card shows. ``phase`` is the member's current phase number
    (None: not placed yet); ``phases`` every phase of the knowledge base in order; the items
    done overall are the sum over ``phases``. ``member_name`` is member-controlled text."""

    member_name: str
    phase: int | None
    phase_title: str
    phases: tuple[PhaseBar, ...]
    streak_weeks: int = 0
    next_item: str | None = None


@dataclass(frozen=True)
class StatsCharts:
    """What the server charts show.

    * ``phase_distribution``: (phase number, members in that phase) for every phase, in order;
      ``unplaced`` members without a phase get their own bar when there are any.
    * ``funnel``: (checklist item title, members who have it done), any order; the top
      ``FUNNEL_TOP`` by members are drawn.
    * ``weekly_activity`` / ``unanswered_weekly``: (week label such as ``"Nov 24"``, count),
      oldest first; the latest ``WEEKS_SHOWN`` are drawn.
    """

    phase_distribution: tuple[tuple[int, int], ...]
    funnel: tuple[tuple[str, int], ...]
    weekly_activity: tuple[tuple[str, int], ...]
    unanswered_weekly: tuple[tuple[str, int], ...]
    unplaced: int = 0


# --------------------------------------------------------------------------- text


@lru_cache(maxsize=32)
def _font(size: int) -> Font:
    return ImageFont.load_default(size=size)


@lru_cache(maxsize=1)
def _notdef() -> bytes:
    return bytes(_font(16).getmask("\U000f0000"))  # a private-use code point: never in the font


@lru_cache(maxsize=4096)
def _has_glyph(ch: str) -> bool:
    return ch == " " or bytes(_font(16).getmask(ch)) != _notdef()


#: stand-ins for common punctuation the bundled font lacks
_STAND_INS = {"\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-",
              "\u2015": "-", "\u2212": "-", "\u2022": "·", "\u00d7": "x"}


@lru_cache(maxsize=4096)
def _drawable(ch: str) -> str:
    """``ch`` if the font has it; else its decomposition's letters the font has (é → e, ² → 2)
    or a stand-in (— → -); a missing combining mark is dropped; anything else is kept and
    shows as a box."""
    if _has_glyph(ch):
        return ch
    if ch in _STAND_INS:
        return _STAND_INS[ch]
    if unicodedata.category(ch) in ("Mn", "Me"):
        return ""
    folded = "".join(c for c in unicodedata.normalize("NFKD", ch)
                     if unicodedata.category(c) not in ("Mn", "Me"))
    if folded and folded != ch and all(_has_glyph(c) for c in folded):
        return folded
    return ch


def clean_text(text: str) -> str:
    """Member text as it is drawn: one line, no controls or bidi/format characters, accents
    folded where the font lacks them, at most ``_TEXT_PRECLIP`` (160) characters."""
    with _DRAWING:  # looking a glyph up uses the shared font
        text = "".join(_drawable(ch) for ch in strip_controls(str(text)[: _TEXT_PRECLIP * 2]))
    return " ".join(text.split())[:_TEXT_PRECLIP].rstrip()


@lru_cache(maxsize=256)
def _fit(text: str, font: Font, width: float) -> str:
    """``text`` clipped with "…" to ``width`` pixels (binary search on the prefix length);
    remembered, as the same labels are fitted in every picture."""
    # measuring is per character: a prefix longer than a line of narrow glyphs never fits
    whole, text = text, text[: int(width / (0.2 * getattr(font, "size", 5))) + 2]
    if text == whole and font.getlength(text) <= width:
        return text
    lo, hi = 0, len(text)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if font.getlength(text[:mid].rstrip() + "…") <= width:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo].rstrip() + "…" if lo or font.getlength("…") <= width else ""


def _number(n: int) -> str:
    return f"{n:,}"


def _text(draw: ImageDraw.ImageDraw, xy: tuple[float, float], text: str, size: int,
          fill: Colour = TEXT, width: float | None = None, anchor: str = "la") -> None:
    if width is not None:
        text = _fit(text, _font(size), width)
    if text:
        (dx, dy), mask = _rendered(text, size, anchor)
        draw.bitmap((round(xy[0]) + dx, round(xy[1]) + dy), mask, fill=fill)


@lru_cache(maxsize=256)
def _rendered(text: str, size: int, anchor: str) -> tuple[tuple[int, int], Image.Image]:
    """``text`` rendered once as a coverage mask, with the offset of its top-left corner from
    the anchor point: labels, counts and titles repeat from picture to picture, and FreeType's
    rendering is most of the cost of drawing one (pasting a cached mask is ~100× cheaper)."""
    font = _font(size)
    x0, y0, x1, y1 = (math.floor(v) for v in font.getbbox(text, anchor=anchor))
    mask = Image.new("L", (max(1, x1 - x0), max(1, y1 - y0)), 0)
    ImageDraw.Draw(mask).text((-x0, -y0), text, font=font, fill=255, anchor=anchor)
    return (x0, y0), mask


def _png(image: Image.Image) -> bytes:
    """Palette PNG: flat colours plus text antialiasing mapped to :func:`_palette` (no visible
    change, about a third of the RGB size), compressed at ``_PNG_LEVEL``."""
    out = io.BytesIO()
    image.quantize(palette=_palette(), dither=Image.Dither.NONE).save(
        out, format="PNG", compress_level=_PNG_LEVEL)
    return out.getvalue()


#: zlib level 2: a card is ~13 KB instead of ~10 KB at the default level 6, encoded in 40% of
#: the time (encoding was the largest part of drawing a card)
_PNG_LEVEL = 2
#: the pictures' own colours; everything drawn is one of them or an antialiased blend of two
_COLOURS = (BG, PANEL, BORDER, TRACK, TEXT, MUTED, ACCENT, DONE, STREAK, ALERT)
#: blends kept between every two colours (text edges, arcs): 5 steps between each pair
_BLEND_STEPS = 5


@lru_cache(maxsize=1)
def _palette() -> Image.Image:
    """A fixed palette: the colours themselves and ``_BLEND_STEPS`` blends of every pair
    (10 + 45 × 5 = 235 entries). Mapping to a known palette costs a quarter of building an
    adaptive one per picture, and every picture's colours are known in advance."""
    flat = [v for colour in _COLOURS for v in colour]
    for i, a in enumerate(_COLOURS):
        for b in _COLOURS[i + 1:]:
            for k in range(1, _BLEND_STEPS + 1):
                t = k / (_BLEND_STEPS + 1)
                flat += (round(x + (y - x) * t) for x, y in zip(a, b, strict=True))
    entries = len(flat) // 3
    palette = Image.new("P", (1, 1))
    palette.putpalette(flat + flat[:3] * (256 - entries))
    return palette


def _ratio(done: int, total: int) -> float:
    return min(1.0, max(0.0, done / total)) if total > 0 else 0.0


def _bar(draw: ImageDraw.ImageDraw, box: tuple[float, float, float, float], ratio: float,
         colour: Colour) -> None:
    x0, y0, x1, y1 = box
    radius = max(0, int((y1 - y0) / 2))
    draw.rounded_rectangle(box, radius=radius, fill=TRACK)
    if ratio > 0:
        draw.rounded_rectangle((x0, y0, max(x0 + 2 * radius, x0 + (x1 - x0) * ratio), y1),
                               radius=radius, fill=colour)


# --------------------------------------------------------------------------- progress card


def progress_card(data: ProgressCard) -> bytes:
    """The member's progress card as PNG bytes (``CARD_SIZE``)."""
    with _DRAWING:
        return _png(_draw_card(data))


def _draw_card(data: ProgressCard) -> Image.Image:
    w, h = CARD_SIZE
    image = Image.new("RGB", CARD_SIZE, BG)
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, w - 1, h - 1), outline=BORDER)
    draw.rectangle((0, 0, 7, h - 1), fill=ACCENT)
    pad, split = 32, 540

    _text(draw, (pad, 26), clean_text(data.member_name) or "Member", 30, width=split - pad - 8)
    if data.phase is None:
        heading, colour = "No phase yet: take the quiz", MUTED
    else:
        title = clean_text(data.phase_title)
        heading, colour = f"Phase {data.phase}" + (f" · {title}" if title else ""), ACCENT
    _text(draw, (pad, 70), heading, 20, fill=colour, width=split - pad - 8)

    _phase_bars(draw, data, (pad, 112, split - 8, 322))

    if data.next_item is not None:
        _text(draw, (pad, 344), "Next", 16, fill=MUTED)
        _text(draw, (pad + 48, 342), clean_text(data.next_item) or "-", 19,
              width=w - pad - (pad + 48))
    else:
        done = sum(max(0, p.done) for p in data.phases)
        total = sum(max(0, p.total) for p in data.phases)
        closing = "Every checklist item done!" if total and done >= total else "No next item"
        _text(draw, (pad, 342), closing, 19, fill=MUTED)

    _overall(draw, data, split + 10, w - pad)
    return image


def _phase_bars(draw: ImageDraw.ImageDraw, data: ProgressCard,
                box: tuple[int, int, int, int]) -> None:
    """One row per phase: title and count above a full-width bar when there is room (a few
    phases), else title, bar and count on one line, else (dozens of phases) bars only."""
    x0, y0, x1, y1 = box
    phases = data.phases
    if not phases:
        _text(draw, ((x0 + x1) / 2, (y0 + y1) / 2), "No phases yet", 18, fill=MUTED, anchor="mm")
        return
    row = (y1 - y0) / len(phases)
    stacked = row >= 40
    size = 16 if stacked else int(max(9, min(16, row * 0.5)))
    count_w = 78
    label_w = 0.0 if stacked else min(190, (x1 - x0) * 0.4)
    bar_h = 10.0 if stacked else max(2.0, min(14.0, row * 0.45))
    for i, p in enumerate(phases):
        mid = y0 + row * (i + 0.5)
        text_y, bar_y = (mid - 9, mid + 11) if stacked else (mid, mid)
        current = p.number == data.phase
        if row >= 10:
            title = clean_text(p.title)
            label = f"{p.number}  {title}" if title else f"Phase {p.number}"
            _text(draw, (x0, text_y), label, size, fill=TEXT if current else MUTED,
                  width=(x1 - x0 - count_w if stacked else label_w) - 10, anchor="lm")
            _text(draw, (x1, text_y), f"{_number(max(0, p.done))}/{_number(max(0, p.total))}",
                  size, fill=TEXT if current else MUTED, width=count_w - 8, anchor="rm")
        ratio = _ratio(p.done, p.total)
        colour = DONE if ratio >= 1 else ACCENT if current else (120, 150, 205)
        bar_x1 = x1 if stacked else x1 - count_w
        _bar(draw, (x0 + label_w, bar_y - bar_h / 2, bar_x1, bar_y + bar_h / 2), ratio, colour)


def _overall(draw: ImageDraw.ImageDraw, data: ProgressCard, x0: int, x1: int) -> None:
    done = sum(max(0, p.done) for p in data.phases)
    total = sum(max(0, p.total) for p in data.phases)
    ratio = _ratio(done, total)
    cx, cy, r = (x0 + x1) / 2, 128, 78
    ring = (cx - r, cy - r, cx + r, cy + r)
    draw.arc(ring, 0, 360, fill=TRACK, width=14)
    if ratio > 0:
        draw.arc(ring, -90, -90 + 360 * ratio, fill=DONE if ratio >= 1 else ACCENT, width=14)
    _text(draw, (cx, cy - 4), f"{round(100 * ratio)}%", 34, anchor="mm", width=2 * r - 30)
    _text(draw, (cx, cy + 28), "overall", 15, fill=MUTED, anchor="mm")
    _text(draw, (cx, cy + r + 26), f"{_number(done)} of {_number(total)} items done", 17,
          anchor="mm", width=x1 - x0)
    streak = max(0, data.streak_weeks)
    _text(draw, (cx, 276), _number(streak), 34, fill=STREAK if streak else MUTED, anchor="mm",
          width=x1 - x0)
    _text(draw, (cx, 306), "week streak", 15, fill=MUTED, anchor="mm")


# --------------------------------------------------------------------------- stats charts


def stats_charts(data: StatsCharts) -> bytes:
    """The server's four charts as one PNG (``CHARTS_SIZE``): phase distribution, checklist
    funnel, weekly activity and the unanswered-questions trend."""
    with _DRAWING:
        return _png(_draw_charts(data))


def _draw_charts(data: StatsCharts) -> Image.Image:
    w, h = CHARTS_SIZE
    image = Image.new("RGB", CHARTS_SIZE, BG)
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, w - 1, h - 1), outline=BORDER)
    members = sum(max(0, n) for _, n in data.phase_distribution) + max(0, data.unplaced)
    _text(draw, (24, 18), "Server progress", 24)
    _text(draw, (w - 24, 22), f"{_number(members)} members", 18, fill=MUTED, anchor="ra",
          width=400)
    gap, top = 16, 60
    pw, ph = (w - 3 * gap) / 2, (h - top - gap * 2) / 2
    boxes = [(gap + c * (pw + gap), top + r * (ph + gap)) for r in (0, 1) for c in (0, 1)]
    panels = [
        ("Members per phase", _distribution, "No members yet"),
        ("Checklist: members done", _funnel, "No checklist item done yet"),
        ("Weekly activity", _activity, "No data yet"),
        ("Unanswered questions per week", _unanswered, "No data yet"),
    ]
    for (title, paint, empty), (x, y) in zip(panels, boxes, strict=True):
        draw.rounded_rectangle((x, y, x + pw, y + ph), radius=10, fill=PANEL)
        _text(draw, (x + 16, y + 12), title, 17, width=pw - 32)
        inner = (x + 16, y + 44, x + pw - 16, y + ph - 12)
        if not paint(draw, data, inner):
            _text(draw, ((inner[0] + inner[2]) / 2, (inner[1] + inner[3]) / 2), empty, 18,
                  fill=MUTED, anchor="mm")
    return image


Box = tuple[float, float, float, float]


def _label_step(labels: Sequence[str], size: int, slot: float) -> int:
    """Label every n-th column so that the widest label fits in n columns (1 if all fit)."""
    widest = max((_font(size).getlength(label) for label in labels), default=0.0)
    return max(1, math.ceil((widest + 6) / slot)) if slot > 0 else 1


def _axis_labels(draw: ImageDraw.ImageDraw, box: Box, xs: Sequence[float],
                 labels: Sequence[str], y: float, slot: float, size: int) -> None:
    """Labels under the columns at ``xs``, thinned to every n-th (the latest always shown),
    kept inside the box."""
    step = _label_step(labels, size, slot)
    font, last = _font(size), len(labels) - 1
    right_free = box[2]  # labels are placed from the latest (right) back; none may overlap
    for i in range(last, -1, -step):
        text = _fit(labels[i], font, min(slot * step - 4, box[2] - box[0]))
        half = font.getlength(text) / 2
        centre = min(max(xs[i], box[0] + half), box[2] - half)
        if centre + half > right_free:
            continue
        _text(draw, (centre, y), text, size, fill=MUTED, anchor="ma")
        right_free = centre - half - 6


def _columns(draw: ImageDraw.ImageDraw, box: Box, bars: Sequence[tuple[str, int, Colour]]) -> None:
    """Vertical bars with their value above and label below, scaled to the largest value."""
    x0, y0, x1, y1 = box
    peak = max((max(0, n) for _, n, _ in bars), default=0) or 1
    base, top = y1 - 22, y0 + 18
    draw.line((x0, base, x1, base), fill=BORDER)
    slot = (x1 - x0) / len(bars)
    bar_w = max(2.0, min(56.0, slot * 0.62))
    size = int(max(9, min(14, slot * 0.3)))
    xs = [x0 + slot * (i + 0.5) for i in range(len(bars))]
    for cx, (_, n, colour) in zip(xs, bars, strict=True):
        height = (base - top) * max(0, n) / peak
        if height > 0:
            draw.rectangle((cx - bar_w / 2, base - max(1.0, height), cx + bar_w / 2, base),
                           fill=colour)
        if slot >= 16:
            _text(draw, (cx, base - height - 3), _number(n), size, anchor="md", width=slot)
    if slot >= 16:
        _axis_labels(draw, box, xs, [label for label, _, _ in bars], base + 5, slot, 13)


def _distribution(draw: ImageDraw.ImageDraw, data: StatsCharts, box: Box) -> bool:
    bars: list[tuple[str, int, Colour]] = [(str(p), n, ACCENT) for p, n in data.phase_distribution]
    if data.unplaced > 0:
        bars.append(("none", data.unplaced, MUTED))
    if not any(n > 0 for _, n, _ in bars):
        return False
    _columns(draw, box, bars)
    return True


def _funnel(draw: ImageDraw.ImageDraw, data: StatsCharts, box: Box) -> bool:
    rows = sorted(((clean_text(t), n) for t, n in data.funnel if n > 0), key=lambda r: -r[1])
    rows = rows[:FUNNEL_TOP]
    if not rows:
        return False
    x0, y0, x1, y1 = box
    peak = rows[0][1]
    row = (y1 - y0) / FUNNEL_TOP
    label_w, count_w = (x1 - x0) * 0.5, 56
    for i, (title, n) in enumerate(rows):
        mid = y0 + row * (i + 0.5)
        _text(draw, (x0, mid), title or "-", 14, fill=MUTED, width=label_w - 8, anchor="lm")
        bar_h = min(16.0, row * 0.6)
        _bar(draw, (x0 + label_w, mid - bar_h / 2, x1 - count_w, mid + bar_h / 2), n / peak, DONE)
        _text(draw, (x1, mid), _number(n), 14, anchor="rm", width=count_w - 6)
    return True


def _weeks(series: tuple[tuple[str, int], ...]) -> tuple[tuple[str, int], ...]:
    return tuple((clean_text(label), n) for label, n in series[-WEEKS_SHOWN:])


def _activity(draw: ImageDraw.ImageDraw, data: StatsCharts, box: Box) -> bool:
    weeks = _weeks(data.weekly_activity)
    if not weeks:
        return False
    _columns(draw, box, [(label, n, ACCENT) for label, n in weeks])
    return True


def _unanswered(draw: ImageDraw.ImageDraw, data: StatsCharts, box: Box) -> bool:
    """A line over the weeks (a trend), each point with its count."""
    weeks = _weeks(data.unanswered_weekly)
    if not weeks:
        return False
    x0, y0, x1, y1 = box
    base, top = y1 - 22, y0 + 20
    peak = max(max(0, n) for _, n in weeks) or 1
    draw.line((x0, base, x1, base), fill=BORDER)
    slot = (x1 - x0) / len(weeks)
    size = int(max(9, min(14, slot * 0.3)))
    points = [(x0 + slot * (i + 0.5), base - (base - top) * max(0, n) / peak)
              for i, (_, n) in enumerate(weeks)]
    if len(points) > 1:
        draw.line(points, fill=ALERT, width=3, joint="curve")
    for (_, n), (px, py) in zip(weeks, points, strict=True):
        draw.ellipse((px - 4, py - 4, px + 4, py + 4), fill=ALERT)
        if slot >= 16:
            _text(draw, (px, py - 7), _number(n), size, anchor="md", width=slot)
    if slot >= 16:
        _axis_labels(draw, box, [x for x, _ in points], [label for label, _ in weeks], base + 5,
                     slot, 13)
    return True



__all__ = [
    "CARD_SIZE",
    "CHARTS_SIZE",
    "FUNNEL_TOP",
    "WEEKS_SHOWN",
    "PhaseBar",
    "ProgressCard",
    "StatsCharts",
    "clean_text",
    "progress_card",
    "stats_charts",
]
