"""Plain-sentence findings per protocol, each one read off the paired tests: a method is
called best only when it is significantly ahead of every other one, otherwise the methods
tied with the leader are named; families are compared through their leaders."""

from __future__ import annotations

from bench.report.families import CONTRASTIVE_KINDS, MIN_SEEDS, SEED_STRATEGIES
from bench.report.standings import Standing, mf_knn_phrase, verdict_words


def leader_sentence(st: Standing) -> str:
    """``X is best`` when the leader is significantly ahead of all others, else who is tied
    with it and who could not be tested against it."""
    top = st.leader
    others = st.tied_with_leader()
    if len(st.items) == 1:
        return f"only {top.name} has records ({top.mean:.2f}%)."
    if not others:
        runner = max((e for e in st.items if e is not top), key=lambda e: e.mean)
        v = st.versus(top, runner)
        return (
            f"**{top.name}** is best ({top.mean:.2f}%), significantly ahead of every other "
            f"method (of the runner-up, {runner.name}, by {v.difference:+.2f} points, "
            f"p = {v.p_value:.2g})."
        )
    tied = [f"{e.name} ({e.mean:.2f}%, p = {v.p_value:.2g})" for e, v in others if v.tested]
    untested = [f"{e.name} ({e.mean:.2f}%)" for e, v in others if not v.tested]
    parts = []
    if tied:
        parts.append(f"is tied within noise with {', '.join(tied)}")
    if untested:
        parts.append(
            f"cannot be tested (fewer than {MIN_SEEDS} paired split seeds) against "
            + ", ".join(untested)
        )
    return (
        f"no single best: {top.name} has the highest mean ({top.mean:.2f}%) but "
        + "; it ".join(parts)
        + "."
    )


def family_sentences(st: Standing) -> list[str]:
    """Each contrastive family's leader against the leading baseline, MF and user-kNN."""
    b = st.baseline
    out = []
    for kind in CONTRASTIVE_KINDS:
        v = st.against_baseline(kind)
        if v is None:
            continue
        e = st.best[kind]
        sentence = (
            f"{kind}: {e.name} ({e.mean:.2f}%) against the leading baseline {b.name} "
            f"({b.mean:.2f}%): {verdict_words(v)}"
        )
        phrase = mf_knn_phrase(st, kind)
        out.append(sentence + (f"; {phrase}." if phrase else "."))
    return out


def floor_sentence(st: Standing) -> str | None:
    """The leading seed strategy against the untrained encoder floor."""
    floors = [e for e in st.items if e.kind == "floor"]
    if SEED_STRATEGIES not in st.best or not floors:
        return None
    e, f = st.best[SEED_STRATEGIES], floors[0]
    return (
        f"training: {e.name} against the untrained {f.name} floor ({f.mean:.2f}%): "
        f"{verdict_words(st.versus(e, f))}."
    )


def findings(table: dict[str, Standing]) -> list[str]:
    """One bullet per protocol with its leader (or the tie), then one sub-bullet per
    contrastive family and the training floor."""
    lines = []
    for protocol, st in table.items():
        lines.append(f"- `{protocol}`: {leader_sentence(st)}")
        subs = family_sentences(st)
        floor = floor_sentence(st)
        lines += [f"  - {s}" for s in subs + ([floor] if floor else [])]
    if lines:
        lines += [
            "",
            f"Each comparison pairs users of the split seeds both methods have; on fewer "
            f"than {MIN_SEEDS} such seeds it is not tested and nothing is called "
            "significant. The points in brackets are the mean paired difference over those "
            "(user, seed) pairs, so they can differ slightly from the difference of the two "
            "seed means (those weigh each seed alike, the pairs each evaluated user of each "
            "seed), and the test is a rank test over the same pairs: a mean difference of a "
            "point can be a tie. The pairs reuse each user on every seed, and no correction "
            "is made for the number of comparisons, so a p near 0.05 is weak evidence. LightGCN is a graph baseline (no contrastive term); SGL, SimGCL "
            "and XSimGCL add contrastive views to it.",
        ]
    return lines
