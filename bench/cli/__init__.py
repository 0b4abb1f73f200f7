"""Stage 6, the command line: ``python -m bench VERB``, a thin layer over the stages below."""
