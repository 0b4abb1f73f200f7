"""The scaling benchmark's figure: log-log seconds per stage against ratings, per method."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from bench.report.figures import (
    figure_key,
    is_current,
    line_style,
    load_cache,
    new_figure,
    palette,
    save_cache,
    save_png,
)
from bench.report.scale_exponents import growth_exponent, method_order, points


def scale_figure(entries: list[dict], path: Path) -> Path | None:
    """Log-log seconds against ratings: one panel per stage, one line per method, with the
    fitted exponent in the legend and a dotted slope-1 guide. None without measured cells."""
    panels = ("load", "split+filter", "fit", "score+metrics")
    methods = method_order(entries)
    if not any(points(entries, s, m)[0] for s in panels for m in methods):
        return None
    path, cache = Path(path), load_cache(Path(path).parent)
    key = figure_key("scale_figure", json.dumps(entries, sort_keys=True, default=str))
    if is_current(cache, path.parent, path.name, key):
        return path
    _draw(entries, panels, methods, path)
    cache[path.name] = {"key": key}
    save_cache(path.parent, cache)
    return path


def _draw(entries: list[dict], panels: tuple, methods: list[str], path: Path) -> Path:
    fig, axes = new_figure(2, 2, figsize=(13, 7.5))
    for ax, stage in zip(axes.ravel(), panels, strict=True):
        drawn = []
        for i, m in enumerate(methods):
            xs, ys = points(entries, stage, m)
            if not xs:
                continue
            order = np.argsort(xs)
            xs, ys = np.asarray(xs)[order], np.asarray(ys)[order]
            slope = growth_exponent(xs, ys)
            name = m if not np.isfinite(slope) else f"{m} (slope {slope:.2f})"
            ax.plot(
                xs, ys, marker="o", ls=line_style(i), color=palette(i), label=name, lw=1.5, ms=4
            )
            drawn += list(zip(xs, ys, strict=True))
        if len({x for x, _ in drawn}) >= 2:
            x = np.array(sorted({x for x, _ in drawn}))
            anchor = np.exp(np.mean(np.log([y for _, y in drawn]))) / np.exp(np.mean(np.log(x)))
            ax.plot(x, anchor * x, ":", color="grey", label="slope 1 (linear)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(stage)
        ax.set_xlabel("ratings")
        ax.set_ylabel("seconds")
        ax.grid(alpha=0.3, which="both")
        if drawn:
            ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    fig.suptitle("Seconds per stage against dataset size (log-log)")
    fig.tight_layout()
    return save_png(fig, Path(path))
