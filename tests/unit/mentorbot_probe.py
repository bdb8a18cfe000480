"""Source for ``python -c`` that runs ``mentorbot`` in the probe's own process, as the console
script does (``python -m bot``, the rest of the command line its arguments), then the probe's
own lines (``after``), which look at what the command left behind."""

from __future__ import annotations


def mentorbot_then(after: str) -> str:
    return ("import runpy, sys; sys.argv = ['mentorbot', *sys.argv[1:]]\n"
            "try:\n    runpy.run_module('bot', run_name='__main__')\n"
            "except SystemExit:\n    pass\n" + after)
