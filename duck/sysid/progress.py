"""A progress bar that needs nothing on the robot: tqdm where installed, a plain line otherwise."""

from __future__ import annotations

import sys
import time


class Progress:
    """``Progress(total, desc)``; ``update_to(done)``; ``close()``. Writes to stderr."""

    def __init__(self, total: float, desc: str, unit: str = "", enabled: bool = True) -> None:
        self.total, self.desc, self.unit, self.enabled = total, desc, unit, enabled
        self._bar = None
        self._last = 0.0
        self._t0 = time.monotonic()
        self._done = 0.0
        if not enabled:
            return
        try:
            from tqdm import tqdm
        except ImportError:
            return
        self._bar = tqdm(total=total, desc=desc, unit=unit, leave=True, file=sys.stderr,
                         bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.3g}/{total:.3g} {unit} "
                                    "[{elapsed}<{remaining}{postfix}]")

    def update_to(self, done: float, postfix: str | None = None) -> None:
        if not self.enabled:
            return
        self._done = done
        if self._bar is not None:
            self._bar.update(done - self._bar.n)
            if postfix is not None:
                self._bar.set_postfix_str(postfix, refresh=False)
            return
        now = time.monotonic()
        if now - self._last < 0.5 and done < self.total:
            return
        self._last = now
        frac = min(1.0, done / self.total) if self.total else 1.0
        bar = "#" * int(30 * frac)
        print(f"\r{self.desc}: {100 * frac:3.0f}% |{bar:<30}| {now - self._t0:.0f} s {postfix or ''}",
              end="", file=sys.stderr, flush=True)

    def close(self) -> None:
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.close()
        else:
            print(file=sys.stderr, flush=True)
