"""Prometheus metrics, one registry per bot process (served by ``bot.ops.http``)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from bot.ops.looplag import LoopLag

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
