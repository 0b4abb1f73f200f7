"""The tuning section's study part: one budget row per study (trials by state, best value,
the defaults trial, seconds, how the trials ran, narrowing, range edges), the sentences that
read the table, and the strategies' parameter-importance figure; read from the study
database, never refitting anything."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

from tabulate import tabulate

from bench.report.common import short_number
from bench.report.families import BASELINE_KINDS, kind_of

BUDGET_HEADERS = [
    "protocol",
    "method",
    "complete trials",
    "pruned",
    "failed",
    "best validation (recall@20 %, or RMSE)",
    "defaults trial",
    "trial seconds",
    "trials ran",
    "search space narrowed (--param)",
    "best at a range's edge",
]
THREADED = "in threads (values disturbed: re-tune)"
THREADED_OWN_RNG = "in threads (own generators: unaffected)"


def how_trials_ran(trials) -> str:
    """Where a study's trials ran: in worker processes (each trial tagged with its
    ``host:pid``), one at a time, or overlapping in threads of one process (an untagged
    trial ran before the tag existed, in ``bench tune``'s own process), whose torch methods
    share one random generator: their values are then not reproducible."""
    by_process: dict = {}
    for t in trials:
        if t.datetime_start is not None and t.datetime_complete is not None:
            span = (t.datetime_start, t.datetime_complete)
            by_process.setdefault(t.user_attrs.get("worker"), []).append(span)
    for spans in by_process.values():
        spans.sort()
        if any(later[0] < earlier[1] for earlier, later in pairwise(spans)):
            return THREADED
    workers = [w for w in by_process if w is not None]
    if len(workers) > 1:
        return f"{len(workers)} processes"
    return "one at a time"


def how_study_ran(trials, method: str) -> str:
    """:func:`how_trials_ran`, where threads disturb only methods that train with torch
    (those with a ``device`` parameter); the others draw from generators of their own."""
    import inspect

    from methods.registry import get_method

    how = how_trials_ran(trials)
    if how == THREADED and "device" not in inspect.signature(get_method(method).cls).parameters:
        return THREADED_OWN_RNG
    return how


def _budget_row(study, protocol: str, method: str) -> tuple[list[str], float]:
    """A study's trial counts, best value, seconds and overrides; and its trial seconds (the
    row of a study borrowed from a (protocol, method) that trains alike shows "-")."""
    import optuna

    from bench.running.studies import parse_study_name
    from bench.running.trials import DEFAULTS, DUPLICATE

    # a second defaults trial queued by a concurrent process never ran: not a failure
    trials = [t for t in study.get_trials(deepcopy=False) if not t.user_attrs.get(DUPLICATE)]
    states = [t.state.name for t in trials]
    seconds = sum(t.user_attrs.get("seconds") or 0.0 for t in trials)
    overrides = study.user_attrs.get("overrides", {})
    owner = parse_study_name(study.study_name)
    label, shown_seconds = method, f"{seconds:.0f}"
    if (owner["protocol"], owner["method"]) != (protocol, method):
        label = f"{method} (trains alike: {owner['method']} on {owner['protocol']}'s study)"
        shown_seconds = "-"  # counted once, under whichever row meets the study first
    minimise = study.direction == optuna.study.StudyDirection.MINIMIZE

    def shown(value: float) -> str:
        return f"RMSE {value:.4f}" if minimise else f"{100 * value:.2f}"

    best = shown(study.best_value)
    # the complete defaults trial if any (one pruned before they were exempt ran again)
    defaults = sorted(
        (t for t in trials if t.user_attrs.get(DEFAULTS)), key=lambda t: t.state.name != "COMPLETE"
    )
    if not defaults:
        defaults_shown = "not run"
    elif defaults[0].state.name != "COMPLETE":
        defaults_shown = defaults[0].state.name.lower()
    else:
        defaults_shown = shown(defaults[0].value)
        if defaults[0].number == study.best_trial.number:
            defaults_shown += " (best)"
    row = [
        protocol,
        label,
        str(states.count("COMPLETE")),
        str(states.count("PRUNED")),
        str(states.count("FAIL")),
        best,
        defaults_shown,
        shown_seconds,
        how_study_ran(trials, method),
        " ".join(f"{k}={v}" for k, v in overrides.items()) or "-",
        ", ".join(at_edge(study)) or "-",
    ]
    return row, seconds


def at_edge(study) -> list[str]:
    """``name=value (low|high)`` for each parameter of the best trial that sits at an end
    of the range the study searched: the distribution optuna recorded for it (so a
    ``--param`` narrowing counts, and a range widened after the study does not)."""
    from bench.running.studies import as_searched

    complete = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    if not complete:
        return []
    best = study.best_trial
    out = []
    for name, dist in sorted(best.distributions.items()):
        if side := as_searched(dist).edge(best.params[name]):
            out.append(f"{name}={short_number(best.params[name])} ({side})")
    return out


def older_ranges(study, method: str) -> list[str]:
    """The parameters whose range in ``study`` differs from ``method``'s ``search_space``
    today (a study run before its ranges were reviewed), leaving out ``--param``
    narrowings, which the budget table shows on their own."""
    from bench.running.studies import searched_space
    from methods.registry import get_method

    _, changed = searched_space(study, get_method(method).cls.search_space)
    narrowed = study.user_attrs.get("overrides", {})
    return [c.split(":")[0] for c in changed if c.split(":")[0] not in narrowed]


def _importance_lines(panels: dict, narrowed: dict, dataset: str, out_dir: Path, rel: str):
    """The strategies' parameter-importance figure (``panels``: label -> study) and the
    sentence that reads it; fANOVA runs only when a study changed since the figure."""
    from bench.report.figures import figure_key, importance_plot, is_current, load_cache, save_cache
    from bench.running.studies import importances

    by_note: dict[str, list[str]] = {}
    for (protocol, method), note in sorted(narrowed.items()):
        by_note.setdefault(note, []).append(f"{method} on {protocol}")
    narrowed_note = "".join(
        f" The studies of {', '.join(names)} searched a narrowed space ({note}, "
        "`bench tune --param`) to keep trials cheap; values outside it were not tried."
        for note, names in by_note.items()
    )
    name = f"{dataset}-tuning-importance.png"
    key = figure_key("importance_plot", *[(p, _trials_key(s)) for p, s in panels.items()])
    cache = load_cache(out_dir)
    if not is_current(cache, out_dir, name, key):
        values = {p: v for p, s in panels.items() if (v := importances(s))}
        if not values:
            return []
        importance_plot(values, out_dir / name, "What mattered in the strategies' studies")
        cache[name] = {"key": key}
        save_cache(out_dir, cache)
    complete = [
        sum(t.state.name == "COMPLETE" for t in s.get_trials(deepcopy=False))
        for s in panels.values()
    ]
    return [
        "Parameter importance in the contrastive strategies' studies (Optuna's fANOVA "
        "evaluator, seeded): whether the seed's fixed settings (20 epochs, lr 1e-4) held "
        "them back shows as the share of learning rate and epochs. fANOVA reads only a "
        f"study's complete trials ({min(complete)} to {max(complete)} here; pruned ones are "
        "left out), so the shares are rough, and they describe the validation slice of seed "
        "0, not test." + narrowed_note,
        "",
        f"![parameter importance]({rel}/{name})",
        "",
    ]


def study_lines(studies: dict, dataset: str, out_dir: Path, rel: str) -> list[str]:
    """Trial budgets from the study database, and the contrastive studies' importances."""
    import optuna

    from bench.running.studies import open_storage, quiet_optuna

    budget, panels, narrowed, older = [], {}, {}, []
    baseline_seconds = graph_baseline_seconds = total_seconds = wall_total = 0.0
    counted = set()
    for (protocol, method), info in sorted(studies.items()):
        try:
            with quiet_optuna():
                study = optuna.load_study(
                    study_name=info["study"], storage=open_storage(info["storage"], create=False)
                )
        except (FileNotFoundError, KeyError):
            budget.append([protocol, method, "study not found", *["-"] * (len(BUDGET_HEADERS) - 3)])
            continue
        row, seconds = _budget_row(study, protocol, method)
        budget.append(row)
        if info["study"] in counted:
            continue
        counted.add(info["study"])
        total_seconds += seconds
        wall_total += wall_seconds(study.get_trials(deepcopy=False))
        if info["family"] == "baseline":
            baseline_seconds += seconds
        elif kind_of(method, info["family"]) in BASELINE_KINDS:
            graph_baseline_seconds += seconds
        if row[1] == method and (names := older_ranges(study, method)):
            older.append(f"{method} on {protocol} ({', '.join(names)})")
        if method.startswith("strategy") and row[1] == method:  # the study's own row
            if study.user_attrs.get("overrides"):
                narrowed[(protocol, method)] = row[
                    BUDGET_HEADERS.index("search space narrowed (--param)")
                ]
            panels[f"{method} on {protocol}"] = study
    lines = [
        "### Tuning budget: what each study ran",
        "",
        "One row per tuned (protocol, method), read from the study database: its trials by "
        "state, the best validation value (seed 0's slice), the defaults trial's value, the "
        "seconds of all its trials, how they ran, any `--param` narrowing, and parameters "
        "whose best value sits at an end of the searched range. A row that trains like "
        "another borrows that study (named in the method column).",
        "",
        tabulate(budget, headers=BUDGET_HEADERS, tablefmt="github", disable_numparse=True),
        "",
    ]
    threaded = [f"{row[1]} on {row[0]}" for row in budget if THREADED in row]
    if threaded:
        lines += [
            f"{len(threaded)} studies of torch methods ran trials concurrently in threads of "
            f"one process ({', '.join(threaded)}). Their concurrent fits shared torch's one "
            "random generator, so a trial's value is not what its parameters give alone and "
            "the choice of parameters is noisier; methods with generators of their own "
            "(numpy, implicit, surprise) are unaffected. The tuned records above are refitted "
            "cleanly, so their test values are what those parameters give; only the choice "
            "may be worse than a clean study's. `bench tune --jobs N` now runs trials in N "
            "worker processes; these studies are still to be tuned again.",
            "",
        ]
    defaults_column = BUDGET_HEADERS.index("defaults trial")
    not_run = sum(row[defaults_column] == "not run" for row in budget)
    best_defaults = [f"{row[1]} on {row[0]}" for row in budget if "(best)" in row[defaults_column]]
    sentences = [
        "Every study also runs the method's defaults once, as a trial beside the searched "
        'ones (column "defaults trial"; counted in the trial columns), so its best trial '
        "is never worse on validation than the defaults.",
        f"The defaults were the best trial in {len(best_defaults)} rows "
        f"({', '.join(best_defaults)})."
        if best_defaults
        else "The defaults were the best trial in no row.",
    ]
    if not_run:
        sentences.append(
            f"{not_run} rows' studies ran before the defaults trial existed and have not "
            "been resumed since (`bench tune` with the same --trials adds it)."
        )
    lines += [" ".join(sentences), ""]
    edge_column = BUDGET_HEADERS.index("best at a range's edge")
    own = [row for row in budget if "(trains alike" not in row[1]]
    at_edges = [f"{row[1]} on {row[0]}" for row in own if row[edge_column] != "-"]
    if at_edges:
        lines += [
            f"In {len(at_edges)} of {len(own)} studies the best trial sits at an end of a "
            "parameter's range (within 5% of it, log-scaled where the range is; for sizes, "
            "the smallest or largest choice): the search may have stopped at the range, not "
            "at the optimum, so those ranges are the first to widen.",
            "",
        ]
    if older:
        lines += [
            f"{len(older)} of {len(own)} studies searched a range that differs from the one "
            "their method declares today (mostly narrower: they ran before its search space "
            "was reviewed), so those methods were not tuned over the same space as the rest "
            f"yet: {'; '.join(older)}. Re-tuning them is pending.",
            "",
        ]
    if baseline_seconds:
        with_graph = (
            f", {(baseline_seconds + graph_baseline_seconds) / 60:.1f} with LightGCN's"
            if graph_baseline_seconds
            else ""
        )
        lines += [
            "Tuning the classic baselines above (popularity, MF, EASE, kNN) took "
            f"{baseline_seconds / 60:.1f} minutes of trials in all{with_graph} (the sum of "
            'the "trial seconds" column, fit and validation of each trial, as stored in the '
            "studies, on the 2-core machine, possibly shared; how they ran is in the column "
            '"trials ran"); the target for the classic baselines is under 30 minutes.',
            "",
        ]
    if total_seconds:
        lines += [
            f"All {len(counted)} studies: {total_seconds / 3600:.1f} hours of trials, "
            f"{wall_total / 3600:.1f} hours of wall time (the time during which at least one "
            "of a study's trials was running), on the machines of the report's Environment "
            "section. "
            "The wall time of the grid of records is on the [timings](timings.md) page.",
            "",
        ]
    if panels:
        lines += _importance_lines(panels, narrowed, dataset, out_dir, rel)
    return lines


def wall_seconds(trials) -> float:
    """The time during which at least one of ``trials`` was running (the union of their
    start-to-end spans): a study resumed days later adds its new trials' time, not the
    days between. Failed trials are left out: one whose process was killed is only marked
    failed when its study is resumed, so its end is not when it stopped."""
    spans = sorted(
        (t.datetime_start, t.datetime_complete)
        for t in trials
        if t.state.name in ("COMPLETE", "PRUNED") and t.datetime_start is not None
    )
    total, end = 0.0, None
    for start, stop in spans:
        if end is None or start > end:
            total, end = total + (stop - start).total_seconds(), stop
        elif stop > end:
            total, end = total + (stop - end).total_seconds(), stop
    return total


def _trials_key(study) -> tuple:
    """What a study's importances are computed from: its trials' states, values and params."""
    return tuple(
        (t.number, t.state.name, t.value, sorted(t.params.items()))
        for t in study.get_trials(deepcopy=False)
    )
