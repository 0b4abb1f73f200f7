"""Stage 4, running: plan jobs, fit and evaluate them (serially, on local workers or a Dask
cluster), store each record atomically; tuning, the regression gate, the scaling benchmark
and the similar-movies lookup are built on the same pieces."""
