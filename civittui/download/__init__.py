"""Download engines behind one interface (`base.Downloader`), chosen by name.

Images always go through the builtin engine: their file extension comes from the response's
Content-Type, which neither IDM nor aria2 reports back. Model files go to the chosen engine.
"""

from __future__ import annotations

from civittui.config import Config
from civittui.download.base import Downloader

__all__ = ["make_file_downloader"]


async def make_file_downloader(config: Config, builtin: Downloader) -> Downloader:
    """The engine for model files per `config.downloader`, checked before anything starts.

    Raises:
        EngineSetupError: IDM not found / not on Windows, aria2 RPC unreachable or secret wrong.
    """
    if config.downloader == "idm":
        from civittui.download.idm import IdmDownloader

        idm = IdmDownloader(idm_path=config.idm_path, timeout=config.idm_timeout)
        await idm.check()
        return idm
    if config.downloader == "aria2":
        from civittui.download.aria2 import Aria2Downloader

        aria2 = Aria2Downloader(
            rpc_url=config.aria2_url,
            secret=config.aria2_secret,
            local_root=config.root,
            remote_root=config.aria2_root,
            connections=config.download.segments,  # same politeness as the builtin engine
        )
        await aria2.check()
        return aria2
    return builtin
