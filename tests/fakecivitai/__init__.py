"""A fake CivitAI (API, presigned file storage, image CDN) on loopback for tests and benches."""

from .cdn import FakeCdn
from .data import (
    Creator,
    FileEntry,
    Image,
    Model,
    Post,
    Version,
    World,
    make_big_creator,
    make_default_world,
)
from .faults_api import ApiFaults
from .faults_cdn import CdnFaults
from .httpbase import RecordedRequest
from .server import API_KEY, FakeCivitai

__all__ = [
    "API_KEY",
    "ApiFaults",
    "CdnFaults",
    "Creator",
    "FakeCdn",
    "FakeCivitai",
    "FileEntry",
    "Image",
    "Model",
    "Post",
    "RecordedRequest",
    "Version",
    "World",
    "make_big_creator",
    "make_default_world",
]
