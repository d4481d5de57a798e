"""Capped, jittered exponential backoff that resets after success (one policy everywhere)."""

from __future__ import annotations

import random


class Backoff:
    """`next_delay()` grows base * 2**n up to `cap`, with full jitter in [delay/2, delay]."""

    def __init__(self, base: float = 0.5, cap: float = 30.0) -> None:
        self.base = base
        self.cap = cap
        self.attempts = 0

    def next_delay(self) -> float:
        delay = min(self.cap, self.base * (2**self.attempts))
        self.attempts += 1
        return random.uniform(delay / 2, delay)

    def reset(self) -> None:
        self.attempts = 0
