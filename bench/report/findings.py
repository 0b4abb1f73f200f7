"""Plain-sentence findings per protocol: who wins, where each family of methods stands."""

from __future__ import annotations

from bench.protocol import RANKING_PROTOCOLS
from bench.report.common import values

# the families the research question names, for the findings
COMPARED = {
    "matrix factorisation": ("als", "bpr", "svd"),
    "user-kNN": ("user-knn", "user-knn-weighted"),
}


def findings(groups, dataset: str, methods: list[str]) -> list[str]:
    """Plain sentences: which method wins each protocol, and where the strategies stand."""
    lines = []
    for protocol in RANKING_PROTOCOLS:
        scored = {
            m: values(groups[(dataset, protocol, m)], "recall@20").mean()
            for m in methods
            if (dataset, protocol, m) in groups
        }
        if not scored:
            continue
        best = max(scored, key=scored.get)
        fams = {m: groups[(dataset, protocol, m)][0]["family"] for m in scored}
        baselines = {m: v for m, v in scored.items() if fams[m] == "baseline"}
        contrastive = {m: v for m, v in scored.items() if fams[m] == "contrastive"}
        line = f"- `{protocol}`: best recall@20 is **{best}** ({scored[best]:.2f}%)."
        if baselines and contrastive:
            b = max(baselines, key=baselines.get)
            c = max(contrastive, key=contrastive.get)
            verdict = "beats" if contrastive[c] > baselines[b] else "does not beat"
            line += (
                f" The best contrastive strategy, {c} ({contrastive[c]:.2f}%), {verdict} the "
                f"best baseline, {b} ({baselines[b]:.2f}%)."
            )
            for group, names in COMPARED.items():
                present = {m: baselines[m] for m in names if m in baselines}
                if present:
                    beaten = [f"{m} ({v:.2f}%)" for m, v in present.items() if contrastive[c] > v]
                    above = [f"{m} ({v:.2f}%)" for m, v in present.items() if contrastive[c] <= v]
                    line += f" Against {group}: beats {', '.join(beaten) or 'none'}"
                    line += f"; below {', '.join(above)}." if above else "."
            line += graph_sentence(scored, fams, baselines)
            line += others_sentence(scored, fams, baselines)
            floors = {m: v for m, v in scored.items() if fams[m] == "floor"}
            for f, v in floors.items():
                line += (
                    f" The untrained {f} floor reaches {v:.2f}%, so training adds "
                    f"{contrastive[c] - v:+.2f} points."
                )
        lines.append(line)
    return lines


def others_sentence(scored: dict, fams: dict, baselines: dict) -> str:
    """The other source systems (autoencoders, item embeddings): AutoRec's binary form against
    ALS, the hybrid against its parts, and who falls below popularity."""
    others = {m: v for m, v in scored.items() if fams[m] in ("autoencoder", "item-embedding")}
    if not others:
        return ""
    out = ""
    if "autorec-implicit" in others and "als" in baselines:
        gap = others["autorec-implicit"] - baselines["als"]
        out += (
            f" autorec-implicit ({others['autorec-implicit']:.2f}%) is {gap:+.2f} points from "
            f"ALS ({'within 2 points or above' if gap >= -2 else 'more than 2 points below'})."
        )
    parts = {m: others[m] for m in ("content-tags", "collab-embed") if m in others}
    if "hybrid" in others and parts:
        best = max(parts, key=parts.get)
        verdict = "at least as good as" if others["hybrid"] >= parts[best] else "below"
        out += (
            f" hybrid ({others['hybrid']:.2f}%) is {verdict} its better part, {best} "
            f"({parts[best]:.2f}%)."
        )
    if "popularity" in baselines:
        below = sorted(m for m, v in others.items() if v <= baselines["popularity"])
        if below:
            out += (
                f" Below popularity ({baselines['popularity']:.2f}%): {', '.join(below)} "
                "(rating-trained or similarity-only models that ignore popularity)."
            )
    return out


def graph_sentence(scored: dict, fams: dict, baselines: dict) -> str:
    """Where the graph methods stand: best of them vs the best baseline, SimGCL/XSimGCL vs
    ALS, and each against popularity."""
    graph = {m: v for m, v in scored.items() if fams[m] == "graph"}
    if not graph or not baselines:
        return ""
    g = max(graph, key=graph.get)
    b = max(baselines, key=baselines.get)
    verdict = "beats" if graph[g] > baselines[b] else "does not beat"
    out = f" The best graph method, {g} ({graph[g]:.2f}%), {verdict} {b}."
    simgcl = {m: graph[m] for m in ("simgcl", "xsimgcl") if m in graph}
    if simgcl and "als" in baselines:
        s = max(simgcl, key=simgcl.get)
        reach = "reaches" if simgcl[s] >= baselines["als"] else "does not reach"
        out += f" {s} ({simgcl[s]:.2f}%) {reach} ALS ({baselines['als']:.2f}%)."
    if "popularity" in baselines:
        below = [m for m, v in graph.items() if v <= baselines["popularity"]]
        out += (
            f" Below popularity ({baselines['popularity']:.2f}%): {', '.join(below)}."
            if below
            else " Every graph method beats popularity."
        )
    return out
