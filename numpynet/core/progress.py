"""Where progress goes: the current stderr, whether it can redraw a line in place, and how a line of logs reads.

Shared by the training loop's progress callbacks, the dataset downloads and the command line, so that every
progress display makes the same choice: a bar redrawn in place on a terminal or in Jupyter, plain lines elsewhere.
"""

from __future__ import annotations

import sys


def format_logs(logs):
    """``"loss: 0.1234 - accuracy: 0.9500"``: floats with four decimals, anything else as it prints."""
    return " - ".join(f"{k}: {v:.4f}" if isinstance(v, float) else f"{k}: {v}" for k, v in logs.items())


class CurrentStderr:
    """Writes to whatever ``sys.stderr`` is *now*.

    progressbar2 swaps ``sys.stderr`` for the stream it saw when it was first imported; under pytest, Jupyter or
    any redirection that stream may since have been replaced or closed. Looking it up at each write avoids that.
    """

    def write(self, text):
        return sys.stderr.write(text)

    def flush(self):
        sys.stderr.flush()

    def isatty(self):
        return getattr(sys.stderr, "isatty", lambda: False)()

    def fileno(self):
        return sys.stderr.fileno()

    @property
    def encoding(self):
        return getattr(sys.stderr, "encoding", "utf-8")


def is_interactive(stream):
    """Whether ``stream`` redraws a line in place: a terminal, a Jupyter notebook, or ``PROGRESSBAR_IS_TERMINAL=1``.

    This is progressbar2's own detection (``progressbar.env.is_terminal``: Jupyter's kernel variables, an ANSI
    ``TERM`` on a tty, the environment override, then ``isatty()``), so the bar and this test never disagree.
    """
    try:
        from progressbar import env
        return bool(env.is_terminal(stream))
    except (ImportError, AttributeError):   # progressbar2 < 4.3 kept it in utils
        from progressbar import utils
        return bool(utils.is_terminal(stream))


def plural(n, word):
    """``"1 epoch"``, ``"3 epochs"``."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"
