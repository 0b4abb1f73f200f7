"""Recommenders: one module per method family, each registering itself with ``@register``."""
