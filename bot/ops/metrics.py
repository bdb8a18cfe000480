"""Prometheus metrics, one registry per bot process (served by ``bot.ops.http``)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from bot.engine.escalate import percentile
from bot.ops.looplag import LoopLag

if TYPE_CHECKING:
    from bot.storage.store import Store

log = logging.getLogger(__name__)

SCRAPE_READ_TIMEOUT = 2.0  # a database read for a scrape gives up after this many seconds
QUALITY_MEASURES = ("asks", "helpful", "not_helpful", "not_what_i_asked")

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.interactions = Counter("mentorbot_interactions", "Interactions handled",
                                    ["command", "outcome"], registry=r)
        self.latency = Histogram("mentorbot_interaction_seconds",
                                 "Interaction handling time, received → response sent",
                                 ["command"], buckets=LATENCY_BUCKETS, registry=r)
        self.unanswered = Counter("mentorbot_unanswered_questions",
                                  "Questions with no confident answer", registry=r)
        self.quiz_completions = Counter("mentorbot_quiz_completions", "Quizzes finished",
                                        registry=r)
        self.reminders = Counter("mentorbot_reminders", "Reminder deliveries by outcome",
                                 ["outcome"], registry=r)
        self.db_errors = Counter("mentorbot_database_errors", "Database errors seen",
                                 registry=r)
        # --- operations (bot.ops) ---
        self.kb_reloads = Counter("mentorbot_knowledge_reloads",
                                  "Knowledge base reloads (/kb reload, SIGHUP) by outcome",
                                  ["outcome"], registry=r)
        self.knowledge_intents = Gauge("mentorbot_knowledge_intents",
                                       "Intents in the knowledge base being served", registry=r)
        self.loop_lag = Gauge("mentorbot_event_loop_lag_seconds",
                              "Event-loop lag: p99 of the last minute or so, max since start",
                              ["stat"], registry=r)
        self.loop_stalls = Gauge("mentorbot_event_loop_stalls",
                                 "Times the event loop was blocked for more than 250 ms",
                                 registry=r)
        self.gateway_up = Gauge("mentorbot_gateway_up",
                                "1 when every gateway shard is connected, else 0", registry=r)

        # The knowledge loop (issue 14): totals kept in the database, the same in every process.
        self.intent_quality = Gauge(
            "mentorbot_intent_quality", "Answer quality per intent (database totals): answered "
            "asks, helpful and not helpful votes, Not what I asked presses",
            ["intent", "measure"], registry=r)
        self.inbox_open = Gauge("mentorbot_inbox_open",
                                "Open entries in the mentors' inbox, by status", ["status"],
                                registry=r)
        self.human_answer = Gauge(
            "mentorbot_time_to_first_human_answer_seconds", "Ask a mentor → first Mark as "
            "answer, over every answered escalation (database totals): p50, p90, max",
            ["quantile"], registry=r)
        self.human_answered = Gauge("mentorbot_escalations_answered",
                                    "Escalations a mentor answered (database total)",
                                    registry=r)
        self.escalations_open = Gauge("mentorbot_escalations_open",
                                      "Escalations waiting for a mentor's answer", registry=r)
        self._before_scrape: list[Callable[[], Awaitable[None]]] = []

    def before_scrape(self, hook: Callable[[], Awaitable[None]]) -> None:
        """Run ``hook`` (a database read that sets gauges) before every scrape."""
        self._before_scrape.append(hook)

    async def refresh(self) -> None:
        """Run the scrape hooks; one that fails or is slow leaves its gauges as they were."""
        for hook in self._before_scrape:
            try:
                await asyncio.wait_for(hook(), SCRAPE_READ_TIMEOUT)
            except Exception:
                log.warning("metrics: a database read for the scrape failed", exc_info=True)

    def watch_quality(self, store: Store) -> None:
        """Expose the answer-quality counters and the open inbox from ``store``."""

        async def read() -> None:
            rows = await store.inbox.quality()
            counts = await store.inbox.open_counts()
            for q in rows:
                for measure in QUALITY_MEASURES:
                    self.intent_quality.labels(intent=q.intent_id, measure=measure).set(
                        getattr(q, measure))
            for status in ("unanswered", "ambiguous", "not_what_i_asked", "not_helpful",
                           "proposed_answer"):
                self.inbox_open.labels(status=status).set(counts.get(status, 0))
            seconds = await store.escalations.answer_seconds()
            self.human_answered.set(len(seconds))
            for name, share in (("0.5", 0.5), ("0.9", 0.9), ("1", 1.0)):
                self.human_answer.labels(quantile=name).set(
                    percentile(seconds, share) if seconds else float("nan"))
            self.escalations_open.set(await store.escalations.open_count())

        self.before_scrape(read)

    def interaction(self, command: str, outcome: str = "received") -> None:
        self.interactions.labels(command=command, outcome=outcome).inc()

    def observe(self, *, intents: Callable[[], float], gateway_up: Callable[[], float],
                lag: LoopLag | None = None) -> None:
        """Read the gauges from the running bot at every scrape (bot.frontends.discord.ops)."""
        self.knowledge_intents.set_function(intents)
        self.gateway_up.set_function(gateway_up)
        if lag is not None:
            self.loop_lag.labels(stat="p99").set_function(lambda: lag.snapshot().p99)
            self.loop_lag.labels(stat="max").set_function(lambda: lag.snapshot().max)
            self.loop_stalls.set_function(lambda: float(lag.snapshot().stalls))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
