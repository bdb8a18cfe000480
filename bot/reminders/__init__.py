"""Weekly progress reminders (no Discord here: the sender lives in the Discord front end).

* :mod:`bot.reminders.compose` — what a reminder says (:func:`compose_reminder`)
* :mod:`bot.reminders.dispatcher` — :class:`Dispatcher`: due → claim → re-check → send, once;
  its loop is the bot's reminder loop, its ``run_once`` is ``mentorbot reminders run-once``
* :mod:`bot.reminders.digest` — the mentors' weekly blocker digests, sent once per server and
  week at the end of each dispatcher run (claims in ``bot_state``)
* :mod:`bot.reminders.sender` — the :class:`Sender` protocol (and :class:`ChannelSender` for
  channel posts) and their typed errors
* :mod:`bot.reminders.ratelimit` — the global token bucket

The schedule (weekday + hour in an IANA zone → UTC) is :mod:`bot.engine.schedule`; the Discord
sender and run-once's REST login are :mod:`bot.frontends.discord.sender`.
"""
