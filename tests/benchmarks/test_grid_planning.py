"""Planning the whole grid: every job's identity, the store lookup and the shared fits.

What `bench all --seeds 0 1 2` does before its first fit: build each split and protocol
once, hash each job's identity (code included) and group the jobs that train alike."""

from bench.running.jobs import plan
from bench.running.runner import Runner
from bench.running.sharing import share_fits
from methods.registry import discover


def test_plan_and_share_the_whole_grid(benchmark, tmp_path):
    methods = sorted(discover())
    jobs = plan(methods, None, [0, 1, 2], everything=True)

    def planning():
        runner = Runner(results=tmp_path)
        prepared = runner._prepare_all(jobs, {})
        return prepared, share_fits(prepared)

    prepared, shared = benchmark.pedantic(planning, rounds=3, iterations=1, warmup_rounds=0)
    copies = sum(len(c) for c in shared.values())
    benchmark.extra_info.update(jobs=len(prepared), fitted=len(prepared) - copies, shared=copies)
    assert len(prepared) == len(jobs) and copies > 0
