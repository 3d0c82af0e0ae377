"""A fake CivitAI (API, presigned file storage, image CDN) on loopback for tests and benches.

    with FakeCivitai() as fake:          # or the ``fake_civitai`` pytest fixture
        fake.api_base, fake.api_key      # the API (127.0.0.1) and its one valid key
        fake.world                       # generated data; edit it or use its add_* builders
        fake.files, fake.images          # CDNs on ``localhost``; ``.faults`` break downloads
        fake.api_faults                  # 429/503/reset/truncate/html/slow for API paths
        fake.requests                    # every request seen by the three servers

Default world: ``alice`` (hostile/Unicode names, a 235-image post, png/jpeg/webp/mp4),
``bob`` (login-required, early-access, archived, wrong-hash, every NSFW level),
``carol`` (two posts attached to no model), ``erin`` (same-named files, a post without meta and
items without ``username``, videos, a post made with another of her models, a post on no model).
As on CivitAI, an image's ``modelVersionIds`` are its detected resources only and
``/images?modelVersionId=V`` lists images posted to V or detecting V.
``python -m tests.fakecivitai`` serves it by hand.
"""

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
