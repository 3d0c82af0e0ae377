"""A fake CivitAI (API, presigned file storage, image CDN) on loopback for tests and benches."""

from .cdn import FakeCdn
from .faults_cdn import CdnFaults
from .httpbase import RecordedRequest
from .server import FakeCivitai

__all__ = ["CdnFaults", "FakeCdn", "FakeCivitai", "RecordedRequest"]
