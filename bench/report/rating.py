"""The report's rating-prediction section: RMSE / MAE per method, the seed's figures beside."""

from __future__ import annotations

import numpy as np
from tabulate import tabulate

from bench.protocol import RATING_PROTOCOLS

# Seed 003's test RMSE, with the release each was measured on (not ml-latest-small).
SEED_RMSE = {
    "embedding baseline (seed 003)": (0.877, "MovieLens 1M"),
    "deep-autorec": (0.858, "MovieLens 1M"),
    "bst": (0.860, "MovieLens 10M (0.863 without user/movie features)"),
}


def _values(runs: list[dict], key: str) -> np.ndarray:
    return np.array([r["metrics"][key] for r in runs if key in r["metrics"]], dtype=float)


def _fmt(v: np.ndarray) -> str:
    if v.size == 0:
        return "-"
    return f"{v.mean():.4f}" + (f" ± {v.std(ddof=1):.4f}" if v.size > 1 else "")


def rating_section(groups, dataset: str) -> list[str]:
    """Markdown lines: one row per method on each rating protocol, best RMSE first."""
    lines: list[str] = []
    for protocol in RATING_PROTOCOLS:
        methods = [m for d, p, m in groups if d == dataset and p == protocol]
        if not methods:
            continue
        methods.sort(key=lambda m: _values(groups[(dataset, protocol, m)], "rmse").mean())
        rows = []
        for m in methods:
            runs = groups[(dataset, protocol, m)]
            seed = SEED_RMSE.get(m)
            rows.append(
                [
                    m,
                    _fmt(_values(runs, "rmse")),
                    _fmt(_values(runs, "mae")),
                    f"{np.mean([r['timings'].get('fit', np.nan) for r in runs]):.1f}",
                    str(len(runs)),
                    f"{seed[0]:.3f} ({seed[1]})" if seed else "-",
                ]
            )
        rmse = {m: _values(groups[(dataset, protocol, m)], "rmse").mean() for m in methods}
        best, worst = methods[0], methods[-1]
        words = [f"Best RMSE: **{best}** ({rmse[best]:.4f})"]
        if worst != best:  # with one method there is nothing to be below
            words[0] += (
                f", {rmse[worst] - rmse[best]:.4f} below the worst ({worst}, {rmse[worst]:.4f})"
            )
        words[0] += "."
        for a, b in (("bias", "global-mean"), ("autorec", "bias"), ("autorec", "svd")):
            # tuned against tuned where both have a study (as the ranking headline)
            a, b = (f"{m}[tuned]" if f"{m}[tuned]" in rmse else m for m in (a, b))
            if a in rmse and b in rmse:
                verdict = "below" if rmse[a] < rmse[b] else "not below"
                words.append(f"{a} is {verdict} {b} ({rmse[a]:.4f} vs {rmse[b]:.4f}).")
        lines += [
            f"### Rating prediction (`{protocol}` protocol)",
            "",
            "RMSE and MAE of predicted ratings over every test rating of the same per-user "
            "split as the ranking tables (every movie kept). The seed's figures (blog post 003) "
            f"were measured on other MovieLens releases, not on `{dataset}`, so they are context, "
            "not a direct comparison: `--dataset ml-1m` gives the direct comparison for the "
            "1M figures.",
            "",
            tabulate(
                rows,
                headers=["method", "RMSE", "MAE", "fit s", "seeds", "seed 003's RMSE (release)"],
                tablefmt="github",
                disable_numparse=True,
            ),
            "",
            " ".join(words),
            "",
            f"Seed 003's own embedding baseline reached {SEED_RMSE['embedding baseline (seed 003)'][0]}"
            " on MovieLens 1M.",
            "",
        ]
    return lines
