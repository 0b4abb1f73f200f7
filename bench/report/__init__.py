"""Stage 5, report: stored records -> markdown tables, findings and figures (no training)."""

from bench.report.build import DEFAULT_REPORT, build_report, headline, write_report

__all__ = ["DEFAULT_REPORT", "build_report", "headline", "write_report"]
