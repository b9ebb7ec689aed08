"""A per-connection frame budget for agents (issue 9: a compromised or broken agent must not flood the
server). A token bucket: ``rate`` frames per second on average, bursts of up to ``burst`` (an agent
replaying its spool after an outage sends many frames at once). Pure logic; the clock is passed in."""

from dataclasses import dataclass, field


@dataclass
class FrameBudget:
    rate: float  # frames per second, sustained
    burst: float  # frames at once
    tokens: float = field(init=False)
    updated: float | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.burst < 1:
            raise ValueError("a frame budget needs rate > 0 and burst >= 1")
        self.tokens = self.burst

    def take(self, now: float) -> bool:
        """Count one frame received at ``now`` (monotonic seconds); False once over the budget."""
        if self.updated is not None:
            self.tokens = min(self.burst, self.tokens + max(0.0, now - self.updated) * self.rate)
        self.updated = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True
