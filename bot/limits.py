"""Limits that more than one layer applies, each written once.

Domain facts (how many phases, how long the quiz is) come from the knowledge base; these are the
sizes of things members type, shared by the front ends, the engine, the matcher and storage.
"""

from __future__ import annotations

#: The longest question read, in characters: the ``/ask`` option, the console, the engine, the
#: matcher and the question log all use this one number.
MAX_QUESTION_CHARS = 2000
