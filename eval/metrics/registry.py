"""What a metric is to the tables: a name, a label, and its direction (declared in the metric's file)."""
from dataclasses import dataclass


@dataclass(frozen=True)
class Metric:
    """higher_is_better: True (↑), False (↓) or None (descriptive, no direction)."""

    name: str
    label: str
    higher_is_better: bool | None

    @property
    def arrow(self) -> str:
        return {True: "↑", False: "↓", None: ""}[self.higher_is_better]
