"""civittui: mirror CivitAI creators to disk, from a terminal UI or headless."""

__version__ = "0.1.0"

USER_AGENT = f"civittui/{__version__} (+https://pypi.org/project/civittui/)"

__all__ = ["USER_AGENT", "__version__"]
