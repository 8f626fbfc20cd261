"""The figures benchmarks return, and the chart `make bench` draws from them (bench/results.png).

A benchmark's ``main`` returns the figures it measured as ratios to a reference measured or set in the
same run (a ceiling the scenario imposes, a floor another program reaches on the same data), so the
chart shows shares, never absolute times from one machine against another's.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

CHART = Path(__file__).resolve().parents[2] / "bench" / "results.png"


@dataclass(frozen=True)
class Figure:
    panel: str  # the chart panel: one comparison per panel
    label: str  # the bar's name
    value: float  # what was achieved, in ``unit``
    reference: float  # the ceiling or floor it is compared with, same unit
    reference_label: str  # "ceiling", "fetch + orjson floor", …
    unit: str  # "records/s", "rows/s", "s"

    @property
    def ratio(self) -> float:
        return self.value / self.reference


def machine() -> str:
    cores = os.cpu_count() or 0
    return f"{platform.system()} {platform.machine()}, {cores} cores, Python {platform.python_version()}"


def write_chart(figures: Sequence[Figure], path: Path = CHART) -> Path | None:
    """One panel per comparison: each bar is a figure's share of its reference (the line at 100 %)."""
    if not figures:
        return None
    import matplotlib

    matplotlib.use("Agg")  # no display: a file only
    import matplotlib.pyplot as plt

    panels = list(dict.fromkeys(figure.panel for figure in figures))
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4.8), squeeze=False)
    for axis, panel in zip(axes[0], panels, strict=True):
        shown = [figure for figure in figures if figure.panel == panel]
        shares = [100 * figure.ratio for figure in shown]
        bars = axis.bar([figure.label for figure in shown], shares, color="#3b75af")
        axis.axhline(100, color="#c44e52", linestyle="--", linewidth=1)
        references = sorted({figure.reference_label for figure in shown})
        axis.set_title(f"{panel}\n(% of {' / '.join(references)}, dashed line = 100 %)", fontsize=10)
        axis.set_ylim(0, max(110, *(share * 1.15 for share in shares)))
        axis.tick_params(axis="x", labelrotation=20, labelsize=8)
        for bar, figure, share in zip(bars, shown, shares, strict=True):
            axis.annotate(
                f"{share:.0f} %\n{_amount(figure.value)} / {_amount(figure.reference)}\n{figure.unit}",
                (bar.get_x() + bar.get_width() / 2, bar.get_height() / 2),
                ha="center",
                va="center",
                color="white",
                fontsize=8,
            )
    fig.suptitle(f"make bench, {dt.date.today():%Y-%m-%d}: {machine()}", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _amount(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.2f}"
