"""Weekly progress reminders.

* :mod:`bot.reminders.schedule` — weekday + hour in an IANA zone → UTC instants and periods
* :mod:`bot.reminders.compose` — what a reminder says (:func:`compose_reminder`)
* :mod:`bot.reminders.dispatcher` — :class:`Dispatcher`: due → claim → re-check → send, once
* :mod:`bot.reminders.sender` — the :class:`Sender` protocol and its typed errors
* :mod:`bot.reminders.ratelimit` — the global token bucket
* :mod:`bot.reminders.discord_sender` — a Sender over Discord's REST API (imports discord)
* :mod:`bot.reminders.cli` — :func:`run_once_cli` for ``mentorbot reminders run-once``

Nothing is imported here, so ``bot.reminders.schedule`` stays light for the engine.
"""
