"""Is a question written in another language? The mentor understands English only, and says so
instead of a bare "I don't know" to a question in German or Japanese."""

from __future__ import annotations

import re
import unicodedata

# Frequent short words of languages members write in, that English doesn't use.
_FOREIGN = frozenset("""
der die das und ist nicht ich wie wird werden kann mein meine eine einen einem sich auf mit
für wenn oder auch noch nach bei zum zur über viel verdient lange dauert wann warum welche
le la les des est une pour dans avec sur pas que qui comment combien quel quelle je suis
el los las es una para con por qué cómo cuánto cuál soy está muy pero más
o os um uma é não como quanto qual sou está muito mas mais você
il lo gli è di per che non sono quanto come
het een niet hoe wat ben zijn voor mijn
""".split())
_ENGLISH = frozenset("""
the a an is are what how much long do does i my me to of in for and or with can should
which when why who it on at be as from this that you your
""".split())
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)


def not_english(text: str) -> bool:
    """True when ``text`` is clearly in another language: mostly non-Latin letters (Japanese,
    Cyrillic, Arabic …), or more frequent words of another language than of English."""
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return False
    latin = sum(1 for c in letters if "LATIN" in unicodedata.name(c, ""))
    if latin / len(letters) < 0.5:
        return True
    words = [w.casefold() for w in _WORD.findall(text)]
    foreign = sum(w in _FOREIGN for w in words)
    english = sum(w in _ENGLISH for w in words)
    return foreign >= 2 and foreign > 2 * english
