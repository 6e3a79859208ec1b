"""Telling how it is: ``digest status`` and ``digest check``."""
