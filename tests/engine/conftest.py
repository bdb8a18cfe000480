"""The engine's tests share one knowledge base (loaded once) and an engine on the test store."""

from __future__ import annotations

import pytest

from bot.config import Settings
from bot.engine.core import Engine
from bot.knowledge.loader import KnowledgeBase, load_knowledge
from bot.storage import Store
from tests.conftest import FakeClock


@pytest.fixture(scope="session")
def kb() -> KnowledgeBase:
    return load_knowledge()


@pytest.fixture
def engine(kb: KnowledgeBase, store: Store, clock: FakeClock) -> Engine:
    return Engine(kb, store, Settings(_env_file=None), clock=clock)
