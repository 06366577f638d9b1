"""Drawing helpers shared by the benchmark plug-ins (issue 16, item 3).

Every figure of the report follows the same rules, so a person reads it at a glance:

* a title, and a footer naming machine, model, dataset, date and mode (:func:`caption`);
* the targets drawn where they apply and labelled with their value
  (:func:`target_line`, :func:`target_mark`), taken from the plug-in's
  :class:`benchmarks.plugin.Target` declarations, never re-typed;
* the baseline in the same plot as what it is compared with;
* sample sizes written on the plot (titles or bar labels);
* legends outside the axes (:func:`legend_below`), never over the data.

Matplotlib runs headless (Agg); figures are saved as PNG at 110 dpi.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.plugin import Target, fmt

TARGET_COLOR = "#c0392b"  # every target line and label has this colour
BASELINE_COLOR = "0.45"  # the baseline (jedi, greedy, "off") is grey
PALETTE = ("C0", "C1", "C2", "C4", "C5", "C6", "C8", "C9")  # data colours: no red


def caption(ctx: dict[str, Any]) -> str:
    """One line naming machine, model, dataset and date (figure footers and report captions)."""
    m, model, data = ctx["machine"], ctx["model"], ctx["dataset"]
    return (
        f"{m['cpu']}, {m['cores']} cores · model {model['name']} ({model['type']} "
        f"{model['layers']}x{model['width']}, {model['weights_bytes'] / 2**20:.1f} MiB) · "
        f"data: {data['name']} "
        f"({data['files']} files) · {ctx['date']} · {ctx['mode']} mode"
    )


def new_figure(
    ctx: dict[str, Any],
    title: str,
    ncols: int = 1,
    width: float = 6.4,
    height: float = 4.6,
    ratios: Sequence[float] | None = None,
) -> tuple[Any, list[Any]]:
    """A titled figure of ``ncols`` panels (relative widths ``ratios``) whose footer names
    machine, model, data, date."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    size = (max(9.0, width * ncols), height)  # wide enough for the one-line footer
    grid = {"width_ratios": list(ratios)} if ratios else None
    fig, axes = plt.subplots(
        1, ncols, figsize=size, squeeze=False, layout="constrained", gridspec_kw=grid
    )
    fig.suptitle(title, fontsize=12)
    fig.supxlabel(caption(ctx), fontsize=7, color="0.35")
    return fig, list(axes[0])


def save(fig: Any, path: Path) -> str:
    """Write ``fig`` to ``path`` (PNG) and close it; return the file name."""
    import matplotlib.pyplot as plt

    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path.name


def legend_below(ax: Any, ncol: int | None = None) -> None:
    """The axes' legend under the plot (below its tick labels and x label), outside the
    data area."""
    handles, labels = ax.get_legend_handles_labels()
    if not handles:
        return
    fig = ax.figure
    fig.draw_without_rendering()  # the layout, so tick labels have their final place
    below = ax.get_tightbbox(fig.canvas.get_renderer())
    y = ax.transAxes.inverted().transform((0, below.y0))[1]
    ax.legend(
        handles,
        labels,
        loc="upper center",
        bbox_to_anchor=(0.5, y - 0.01),
        ncol=ncol or min(4, len(handles)),
        fontsize=7,
        frameon=False,
    )


def short(value: float) -> str:
    """A bar label: whole numbers from 10 up, two significant digits below."""
    return f"{value:.0f}" if abs(value) >= 10 else f"{value:.2g}"


def bars(
    ax: Any,
    groups: Sequence[str],
    series: dict[str, Sequence[float | None]],
    pct: bool,
    colors: dict[str, str] | None = None,
) -> dict[tuple[str, int], tuple[float, float]]:
    """Grouped vertical bars, one group per ``groups`` entry, one bar per series, each
    labelled with its value ("n/a" when missing). Returns ``(series, group index) ->
    (x, width)`` of every bar, so a target can be drawn over the bar it is about."""
    width = 0.8 / max(1, len(series))
    placed: dict[tuple[str, int], tuple[float, float]] = {}
    for i, (label, values) in enumerate(series.items()):
        xs = [g + (i - (len(series) - 1) / 2) * width for g in range(len(groups))]
        ys = [0.0 if v is None else (100 * v if pct else v) for v in values]
        color = (colors or {}).get(label, PALETTE[i % len(PALETTE)])
        drawn = ax.bar(xs, ys, width, label=label, color=color)
        for g, (bar, v) in enumerate(zip(drawn, values, strict=True)):
            placed[(label, g)] = (xs[g], width)
            text = "n/a" if v is None else (f"{100 * v:.0f}" if pct else short(v))
            ax.annotate(
                text,
                (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                ha="center",
                va="bottom",
                fontsize=6,
            )
    ax.set_xticks(range(len(groups)), groups, fontsize=8)
    if pct:
        ax.set_ylabel("%")
        ax.set_ylim(0, 112)
    return placed


def over(placed: tuple[float, float]) -> tuple[float, float]:
    """The x span of one bar of :func:`bars` (for :func:`target_line`'s ``span``)."""
    x, width = placed
    return (x - width / 2, x + width / 2)


def _plotted(target: Target, value: float | None = None) -> float:
    """The target's value in plot units (percent targets are plotted as 0..100)."""
    v = target.value if value is None else value
    return 100 * v if target.unit in ("%", "pp") else v


def target_line(
    ax: Any,
    target: Target,
    axis: str = "y",
    value: float | None = None,
    label: str | None = None,
    span: tuple[float, float] | None = None,
) -> Any:
    """Draw ``target`` as a dashed line across the axes (``axis`` "y": horizontal at its
    value; "x": vertical), or over ``span`` (data x range) only, with its label.

    ``value`` replaces the target's own value where the target is relative (e.g. 1.5x
    the baseline's savings: the line is drawn at that product); ``label`` replaces the
    default text (``target <= 150 ms``; "" draws no text)."""
    at = _plotted(target, value)
    text = f"target {target.text()}" if label is None else label
    style = {"color": TARGET_COLOR, "linestyle": "--", "linewidth": 1.2, "zorder": 5}
    note: dict[str, Any] = {"textcoords": "offset points", "fontsize": 7, "color": TARGET_COLOR}
    if axis == "x":  # the label along the top edge, on the side of the line with room
        line = ax.axvline(at, **style)
        low, high = ax.get_xlim()
        right_half = (at - low) > 0.55 * (high - low)
        note.update(xy=(at, 1.0), xycoords=("data", "axes fraction"), va="top")
        note.update(xytext=(-3 if right_half else 3, -3), ha="right" if right_half else "left")
        note.update(bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1})
    elif span is not None:
        (line,) = ax.plot(span, [at, at], **style)
        note.update(xy=((span[0] + span[1]) / 2, at), xytext=(0, 2), ha="center", va="bottom")
    else:
        line = ax.axhline(at, **style)
        note.update(xy=(1.0, at), xycoords=("axes fraction", "data"), xytext=(-3, 2))
        note.update(ha="right", va="bottom")
    if text:
        ax.annotate(text, **note)
    line.set_gid(f"target:{target.key}")
    return line


def target_mark(ax: Any, target: Target, x: float, y: float, label: str | None = None) -> Any:
    """Draw ``target`` as a marked point (e.g. p50 <= 150 ms on a CDF at (150, 0.5))."""
    (mark,) = ax.plot([x], [y], marker="X", markersize=8, color=TARGET_COLOR, zorder=6)
    mark.set_gid(f"target:{target.key}")
    ax.annotate(
        target.text() if label is None else label,
        (x, y),
        xytext=(0, 6),
        textcoords="offset points",
        ha="center",
        va="bottom",
        fontsize=7,
        color=TARGET_COLOR,
    )
    return mark


def value_text(value: float | None, unit: str) -> str:
    """A number as the figures label it (same formatting as the tables)."""
    return fmt(value, unit)
