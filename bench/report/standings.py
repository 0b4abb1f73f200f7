"""Each protocol's headline standing: the leading method of every family, the leading
baseline, and the paired tests between them (computed once per build, then shared by the
compact table, the answer, the findings and the significance section)."""

from __future__ import annotations

from dataclasses import dataclass, field

from bench.protocol import RANKING_PROTOCOLS
from bench.report.families import (
    CONTRASTIVE_KINDS,
    EASE,
    MF,
    MIN_SEEDS,
    USER_KNN,
    Entry,
    Verdict,
    best_baseline,
    best_per_kind,
    compare,
    entries,
)


@dataclass
class Standing:
    """One protocol: its headline entries, the leader of each family, the leading baseline."""

    protocol: str
    items: list[Entry]
    best: dict[str, Entry]  # family -> its entry with the highest mean recall@20
    baseline: Entry | None  # the baseline entry with the highest mean recall@20
    _tests: dict = field(default_factory=dict, repr=False)

    def versus(self, a: Entry, b: Entry) -> Verdict:
        """``compare(a, b)``, computed once."""
        key = (a.name, b.name)
        if key not in self._tests:
            self._tests[key] = compare(a, b)
        return self._tests[key]

    def against_baseline(self, kind: str) -> Verdict | None:
        """The family's leader against the leading baseline (None for the baseline itself)."""
        e = self.best.get(kind)
        if e is None or self.baseline is None or e is self.baseline:
            return None
        return self.versus(e, self.baseline)

    @property
    def leader(self) -> Entry:
        return max(self.items, key=lambda e: e.mean)

    def tied_with_leader(self) -> list[tuple[Entry, Verdict]]:
        """Every other entry the leader is not significantly ahead of (tied or too few seeds),
        highest mean first."""
        top = self.leader
        out = [(e, self.versus(top, e)) for e in self.items if e is not top]
        out = [(e, v) for e, v in out if v.state != "above"]
        return sorted(out, key=lambda ev: -ev[0].mean)


def standings(runs: dict, dataset: str, tuned: bool = True) -> dict[str, Standing]:
    """``protocol -> Standing`` for every ranking protocol with records, in protocol order;
    ``tuned``: each method's ``[tuned]`` records where they exist (else its defaults)."""
    out = {}
    for protocol in RANKING_PROTOCOLS:
        items = entries(runs, dataset, protocol, tuned)
        if items:
            out[protocol] = Standing(protocol, items, best_per_kind(items), best_baseline(items))
    return out


def seeds_phrase(v: Verdict) -> str:
    return f"{v.seeds} paired split seed{'s' if v.seeds != 1 else ''}"


def verdict_words(v: Verdict) -> str:
    """``significantly below (-3.10 points, p = 0.002)``, ``tied (p = 0.4)`` or ``not tested
    (1 paired split seed; 3 needed)``."""
    if v.state == "few seeds":
        return f"not tested ({seeds_phrase(v)}; {MIN_SEEDS} needed)"
    if v.state == "tied":
        return f"tied within noise ({v.difference:+.2f} points, p = {v.p_value:.2g})"
    return f"significantly {v.state} ({v.difference:+.2f} points, p = {v.p_value:.2g})"


STATE_WORDS = {"above": "above", "below": "below", "tied": "tied with", "few seeds": "untested vs"}


def mf_knn_phrase(st: Standing, kind: str) -> str | None:
    """``below MF, tied with user-kNN (below EASE)``: a contrastive family's leader against
    the leading MF and user-kNN methods of the same protocol (the seed's question), and
    against EASE where it ran; None when MF or user-kNN is missing."""
    e = st.best.get(kind)
    parts = []
    for other, label in ((MF, "MF"), (USER_KNN, "user-kNN")):
        if e is None or other not in st.best:
            return None
        parts.append(f"{STATE_WORDS[st.versus(e, st.best[other]).state]} {label}")
    text = ", ".join(parts)
    if EASE in st.best:
        text += f" ({STATE_WORDS[st.versus(e, st.best[EASE]).state]} EASE)"
    return text


def answer_verdict(table: dict[str, Standing]) -> str:
    """The answer in one sentence, from the tests of each contrastive family's leader
    against the leading MF and user-kNN methods of each protocol."""
    states = {
        (kind, p): (
            st.versus(st.best[kind], st.best[MF]).state,
            st.versus(st.best[kind], st.best[USER_KNN]).state,
        )
        for p, st in table.items()
        for kind in CONTRASTIVE_KINDS
        if kind in st.best and MF in st.best and USER_KNN in st.best
    }
    if not states:
        return "Not answerable from these records: no protocol has both sides."
    wins = sorted({f"`{p}`" for (_, p), s in states.items() if s == ("above", "above")})
    untested = sum("few seeds" in s for s in states.values())
    below = sum("below" in s for s in states.values())
    if wins:
        return f"Yes on {', '.join(wins)}: a contrastive family is significantly above both."
    text = (
        f"{'No' if untested == 0 else 'Not shown'}: in no tested comparison is a contrastive "
        "family's leader significantly above both MF and user-kNN; it is significantly below "
        f"at least one of them in {below} of {len(states)} (family, protocol) cells"
    )
    if untested:
        text += f", and {untested} cells lack the {MIN_SEEDS} paired split seeds a test needs"
    return text + "."


def answer_lines(table: dict[str, Standing]) -> list[str]:
    """One line per contrastive family: where its leader stands against MF and user-kNN,
    protocols grouped by the same outcome."""
    lines = []
    for kind in CONTRASTIVE_KINDS:
        grouped: dict[str, list[str]] = {}
        for protocol, st in table.items():
            phrase = mf_knn_phrase(st, kind)
            if phrase:
                grouped.setdefault(phrase, []).append(f"`{protocol}`")
        if grouped:
            said = "; ".join(f"{p} on {', '.join(ps)}" for p, ps in grouped.items())
            lines.append(f"- {kind}: {said}.")
    return lines


def few_seed_cells(table: dict[str, Standing]) -> list[str]:
    """``method on `protocol` (n)`` for every headline entry with fewer than MIN_SEEDS seeds."""
    return [
        f"{e.name} on `{p}` ({e.n_seeds})"
        for p, st in table.items()
        for e in st.items
        if e.n_seeds < MIN_SEEDS
    ]
