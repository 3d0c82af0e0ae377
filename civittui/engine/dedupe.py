"""A model file whose content is already in the library is linked, not downloaded again.

The state keeps SHA256 -> a done file item (`Store.file_with_sha256`): a file another creator
re-uploaded, or one `adopt` identified, is hard-linked (copied where links are impossible) to
where this item wants it, and recorded done with the same hash: no CDN request, no API call.
"""

from __future__ import annotations

from pathlib import Path

import anyio

from civittui.engine.items import FileItem
from civittui.engine.plan import Done, size_ok
from civittui.sidecars import place_lora
from civittui.store import ItemStatus, Store

__all__ = ["link_twin"]


async def link_twin(store: Store, item: FileItem, dest: Path) -> Done | None:
    """Link the library's copy of `item`'s content to `dest`; None when there is none.

    Only a file the API gives a SHA256 for qualifies, and only when the copy on disk still has
    the size its record says (a vanished or changed file is downloaded as usual).
    """
    sha = item.sha256
    if sha is None:
        return None
    record = store.file_with_sha256(sha)
    if record is None or record.status != ItemStatus.DONE or not record.path:
        return None
    source = Path(record.path)
    try:
        size = source.stat().st_size
    except OSError:
        return None
    if (record.size is not None and size != record.size) or not size_ok(size, item.size):
        return None
    if source != dest:
        dest.parent.mkdir(parents=True, exist_ok=True)
        await anyio.to_thread.run_sync(lambda: place_lora(source, dest, mode="hardlink"))
    return Done(dest, size, recorded=False, sha256=sha)
