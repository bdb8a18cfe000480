"""The progress card and stats charts decode as PNGs of the expected size, and what they show
follows the data: bars fill as items are done, one bar row per phase, one column per week, the
top of the funnel, an empty panel when there is nothing to show. Member text of any kind draws
without error and stays in its box."""

from __future__ import annotations

import io
import unicodedata

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from bot.render.images import (
    ACCENT,
    ALERT,
    BG,
    CARD_SIZE,
    CHARTS_SIZE,
    DONE,
    FUNNEL_TOP,
    TRACK,
    WEEKS_SHOWN,
    PhaseBar,
    ProgressCard,
    StatsCharts,
    clean_text,
    progress_card,
    stats_charts,
)

HOSTILE = [
    "",
    "   \n\t  ",
    "🔥🚀👨\u200d👩\u200d👧 party 🎉",
    "\u202eevil\u202c name \u2066x\u2069",
    "مرحبا بالعالم",
    "שלום",
    "ctrl\x00\x07\x1b[31m\x85\x9b",
    "lone \ud800 surrogate",
    "z" + "\u0301\u0302\u0303\u0304" * 500,
    "W" * 10_000,
    "🙂" * 10_000,
]


def decode(png: bytes, size: tuple[int, int]) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    assert image.size == size
    assert image.mode == "P"  # a palette PNG: the pictures are a few flat colours
    image.load()
    return image


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB")).astype(int)


def near(px: np.ndarray, colour: tuple[int, int, int], tol: int = 14) -> np.ndarray:
    """Mask of the pixels within ``tol`` of ``colour`` on every channel."""
    return (np.abs(px - np.array(colour)) <= tol).all(axis=-1)


def runs(line: np.ndarray) -> int:
    """How many separate stretches of True a 1-D mask has."""
    padded = np.concatenate([[False], line, [False]]).astype(int)
    return int((np.diff(padded) == 1).sum())


def card(done: tuple[int, ...] = (3, 0, 0, 0), total: int = 8, **kw: object) -> ProgressCard:
    phases = tuple(PhaseBar(i + 1, f"Phase {i + 1} title", d, total) for i, d in enumerate(done))
    fields: dict[str, object] = dict(member_name="Ana", phase=1, phase_title="Foundations",
                                     phases=phases, streak_weeks=2, next_item="Install Docker")
    fields.update(kw)
    return ProgressCard(**fields)  # type: ignore[arg-type]


def left(px: np.ndarray) -> np.ndarray:
    """The card's left column (name, phase bars, next item); the ring and streak are right."""
    return px[:, : int(CARD_SIZE[0] * 0.65)]


def longest_run(line: np.ndarray) -> int:
    padded = np.concatenate([[0], line.astype(int), [0]])
    edges = np.diff(padded)
    starts, ends = np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0]
    return int((ends - starts).max()) if len(starts) else 0


def bar_rows(image: Image.Image) -> int:
    """Phase bars drawn: groups of pixel rows crossed by a long horizontal stretch of track."""
    track = near(left(pixels(image)), TRACK, tol=6)
    return runs(np.array([longest_run(row) >= 100 for row in track]))


def changed_box(a: bytes, b: bytes, size: tuple[int, int]) -> tuple[int, int, int, int] | None:
    """The bounding box of what visibly differs between two pictures (the palette is chosen
    per picture, so a colour can move by a level or two anywhere)."""
    diff = np.abs(pixels(decode(a, size)) - pixels(decode(b, size))).max(axis=-1) > 40
    ys, xs = np.nonzero(diff)
    return (int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())) if len(xs) else None


# --------------------------------------------------------------------------- progress card


def test_the_card_is_a_small_png_with_real_content():
    png = progress_card(card())
    image = decode(png, CARD_SIZE)
    assert len(png) < 40_000
    assert len(image.convert("RGB").getcolors(maxcolors=1 << 16) or ()) >= 8
    assert near(pixels(image), BG).mean() > 0.5  # an opaque background of its own


def test_the_bars_fill_as_items_are_done():
    none = pixels(decode(progress_card(card(done=(0, 0, 0, 0))), CARD_SIZE))
    full = pixels(decode(progress_card(card(done=(8, 8, 8, 8))), CARD_SIZE))
    assert near(left(none), DONE).sum() == 0
    assert near(left(full), DONE).sum() > 4 * 1000  # four full green bars
    assert near(none, DONE).sum() < near(full, DONE).sum()
    some = pixels(decode(progress_card(card(done=(2, 0, 0, 0))), CARD_SIZE))
    more = pixels(decode(progress_card(card(done=(6, 0, 0, 0))), CARD_SIZE))
    assert near(left(more), ACCENT).sum() - near(left(some), ACCENT).sum() > 800


def test_phase_bars_follow_the_phase_order():
    first = pixels(decode(progress_card(card(done=(8, 0, 0, 0))), CARD_SIZE))
    last = pixels(decode(progress_card(card(done=(0, 0, 0, 8))), CARD_SIZE))
    first_rows = np.nonzero(near(left(first), DONE).any(axis=1))[0]
    last_rows = np.nonzero(near(left(last), DONE).any(axis=1))[0]
    assert first_rows.max() < last_rows.min()  # phase 1's bar above phase 4's


@pytest.mark.parametrize("count", [1, 2, 4, 7, 20])
def test_one_bar_per_phase_whatever_the_number_of_phases(count):
    image = decode(progress_card(card(done=(0,) * count, phase=count)), CARD_SIZE)
    assert bar_rows(image) == count


def test_no_phases_and_no_next_item_still_draw_a_card():
    image = decode(progress_card(card(done=(), phase=None, next_item=None, streak_weeks=0)),
                   CARD_SIZE)
    assert bar_rows(image) == 0
    assert near(pixels(image), DONE).sum() == 0


def test_the_streak_changes_the_card():
    box = changed_box(progress_card(card(streak_weeks=0)), progress_card(card(streak_weeks=5)),
                      CARD_SIZE)
    assert box is not None and box[0] > CARD_SIZE[0] * 0.65  # only the right column changed


def test_odd_numbers_never_break_the_card():
    for done, total, streak in [(-3, 0, -1), (50, 8, 10**15), (10**12, 10**12, 0)]:
        decode(progress_card(card(done=(done,), total=total, streak_weeks=streak)), CARD_SIZE)


@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_text_draws(text):
    decode(progress_card(card(member_name=text, phase_title=text, next_item=text)), CARD_SIZE)
    decode(stats_charts(StatsCharts(((1, 3),), ((text, 4),), ((text, 1),), ((text, 2),))),
           CHARTS_SIZE)


def test_a_long_name_stays_on_its_line():
    box = changed_box(progress_card(card(member_name="W" * 5)),
                      progress_card(card(member_name="W" * 10_000)), CARD_SIZE)
    assert box is not None
    _, _, x1, y1 = box
    assert x1 < CARD_SIZE[0] * 0.7 and y1 < CARD_SIZE[1] * 0.2  # clipped before the ring


def test_bidi_and_control_characters_draw_nothing():
    plain = progress_card(card(member_name="Ana Lima"))
    sneaky = progress_card(card(member_name="\u202eAna\x07 \u2066Lima\u2069\u200f"))
    assert pixels(decode(plain, CARD_SIZE)).tolist() == pixels(decode(sneaky, CARD_SIZE)).tolist()


def test_clean_text_folds_what_the_font_lacks():
    assert clean_text("José — naïve café") == "Jose - naive cafe"
    assert clean_text("z\u0301\u0302\u0303") == "z"
    assert clean_text("a\u202eb\x00c\n\td") == "a b c d"
    assert len(clean_text("x" * 10_000)) <= 200


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=400))
def test_clean_text_never_keeps_controls_or_format_characters(text):
    shown = clean_text(text)
    assert len(shown) <= 200
    assert shown == shown.strip() and "  " not in shown
    assert all(unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co", "Cn") for ch in shown)


@settings(max_examples=15, deadline=None)
@given(st.text(max_size=300))
def test_any_member_name_draws(text):
    decode(progress_card(card(member_name=text)), CARD_SIZE)


# --------------------------------------------------------------------------- stats charts


def quadrants(image: Image.Image) -> list[np.ndarray]:
    """The four panels: distribution, funnel (top row), activity, unanswered (bottom row)."""
    px = pixels(image)
    h, w = px.shape[0] // 2, px.shape[1] // 2
    return [px[:h, :w], px[:h, w:], px[h:, :w], px[h:, w:]]


FULL = StatsCharts(
    phase_distribution=((1, 120), (2, 64), (3, 20), (4, 5)),
    funnel=tuple((f"Item {i}", 10 + i) for i in range(20)),
    weekly_activity=tuple((f"W{i}", 5 + i % 7) for i in range(20)),
    unanswered_weekly=tuple((f"W{i}", i % 4) for i in range(10)),
    unplaced=7,
)


def test_the_charts_are_a_small_png_with_four_filled_panels():
    png = stats_charts(FULL)
    image = decode(png, CHARTS_SIZE)
    assert len(png) < 60_000
    dist, funnel, activity, unanswered = quadrants(image)
    assert near(dist, ACCENT).sum() > 2000
    assert near(funnel, DONE).sum() > 2000
    assert near(activity, ACCENT).sum() > 2000
    assert near(unanswered, ALERT).sum() > 300


def test_empty_stats_draw_empty_panels():
    image = decode(stats_charts(StatsCharts((), (), (), ())), CHARTS_SIZE)
    px = pixels(image)
    for colour in (ACCENT, DONE, ALERT):
        assert near(px, colour).sum() == 0
    zeros = decode(stats_charts(StatsCharts(((1, 0), (2, 0)), (("a", 0),), (), ())), CHARTS_SIZE)
    assert pixels(zeros).tolist() == px.tolist()  # all-zero counts: the same empty panels


def peak_row_columns(panel: np.ndarray, colour: tuple[int, int, int]) -> int:
    """Columns of ``colour`` across the row that crosses most of them."""
    mask = near(panel, colour)
    return max(runs(row) for row in mask)


@pytest.mark.parametrize("phases", [1, 3, 4, 9])
def test_one_column_per_phase(phases):
    data = StatsCharts(tuple((p, 10 + p) for p in range(1, phases + 1)), (), (), ())
    dist = quadrants(decode(stats_charts(data), CHARTS_SIZE))[0]
    assert peak_row_columns(dist, ACCENT) == phases


def test_the_latest_weeks_are_shown():
    few = StatsCharts((), (), tuple((f"W{i}", 3) for i in range(5)), ())
    # forty weeks, the last twelve busy: those are the ones drawn
    many = StatsCharts((), (), tuple((f"W{i}", 3 if i >= 28 else 0) for i in range(40)), ())
    assert peak_row_columns(quadrants(decode(stats_charts(few), CHARTS_SIZE))[2], ACCENT) == 5
    assert (peak_row_columns(quadrants(decode(stats_charts(many), CHARTS_SIZE))[2], ACCENT)
            == WEEKS_SHOWN)


def test_the_funnel_shows_the_most_done_items_longest_first():
    data = StatsCharts((), tuple((f"Item {i}", i) for i in range(1, 31)), (), ())
    funnel = quadrants(decode(stats_charts(data), CHARTS_SIZE))[1]
    green = near(funnel, DONE)
    rows = np.nonzero(green.any(axis=1))[0]
    # split the green rows into bars and measure each bar's length
    bars = np.split(rows, np.nonzero(np.diff(rows) > 1)[0] + 1)
    lengths = [int(green[b].sum(axis=1).max()) for b in bars]
    assert len(lengths) == FUNNEL_TOP
    assert lengths == sorted(lengths, reverse=True) and lengths[0] > lengths[-1]


def test_a_quiet_week_still_shows_the_unanswered_trend():
    zeros = StatsCharts((), (), (), tuple((f"W{i}", 0) for i in range(6)))
    unanswered = quadrants(decode(stats_charts(zeros), CHARTS_SIZE))[3]
    assert near(unanswered, ALERT).sum() > 100  # six points on the zero line
