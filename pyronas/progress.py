"""Progress output that suits where it goes: a live bar on a terminal, a few log lines elsewhere.

On a terminal (the stream's ``isatty()``) ``Progress`` is a tqdm bar updated every step. Anywhere
else (CI, ``nohup``, output redirected to a file) a bar would write one line per refresh, so it logs
one INFO line on the ``pyronas.progress`` logger at most every ``interval`` seconds, plus a final
line at ``close()``; never a line per step.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import IO, Any

from tqdm.auto import tqdm

__all__ = ["Progress"]

log = logging.getLogger(__name__)


class Progress:
    """A progress report over ``total`` units (steps or epochs).

    Args:
        total: number of units.
        initial: units already done (resume).
        desc: label of the report.
        unit: name of a unit.
        enabled: False: report nothing.
        interval: seconds between two log lines when the stream is not a terminal.
        stream: where a bar would be drawn (default ``sys.stderr``); decides terminal or not.
    """

    def __init__(
        self,
        total: int,
        initial: int = 0,
        desc: str = "",
        unit: str = "step",
        enabled: bool = True,
        interval: float = 30.0,
        stream: IO[str] | None = None,
    ):
        stream = stream if stream is not None else sys.stderr
        self.total, self.n, self.desc, self.unit = total, initial, desc, unit
        self.enabled, self.interval = enabled, interval
        self.postfix: dict[str, Any] = {}
        self.is_tty = bool(getattr(stream, "isatty", lambda: False)())
        self._bar = None
        if enabled and self.is_tty:
            self._bar = tqdm(total=total, initial=initial, desc=desc, unit=unit, file=stream, dynamic_ncols=True)
        self._start = self._last = time.monotonic()
        self._n_start = initial

    def update(self, n: int = 1, **postfix: Any) -> None:
        """Advance by ``n`` units; ``postfix`` values are shown next to the count."""
        self.n += n
        self.postfix.update(postfix)
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.update(n)
            if postfix:
                self._bar.set_postfix(self.postfix, refresh=False)
            return
        now = time.monotonic()
        if now - self._last >= self.interval:
            self._last = now
            self._log(now)

    def _log(self, now: float) -> None:
        rate = (self.n - self._n_start) / max(now - self._start, 1e-9)
        extra = " ".join(f"{k}={v}" for k, v in self.postfix.items())
        log.info("%s %d/%d %ss (%.2f %s/s) %s", self.desc, self.n, self.total, self.unit, rate, self.unit, extra)

    def close(self) -> None:
        """Close the bar, or log the final line."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif self.enabled and self.n > self._n_start:
            self._log(time.monotonic())
        self.enabled = False

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
