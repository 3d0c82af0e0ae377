"""Run the fake CivitAI in the foreground: ``python -m tests.fakecivitai [--port N]``."""

from __future__ import annotations

import argparse
import threading

from .data import make_big_creator, make_default_world
from .server import FakeCivitai


def main(argv: list[str] | None = None) -> int:
    """Start the servers, print how to reach them, serve until Ctrl-C.

    Args:
        argv: command-line arguments (default: ``sys.argv[1:]``).

    Returns:
        The exit code.
    """
    parser = argparse.ArgumentParser(prog="python -m tests.fakecivitai", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="API port (default: any free one)")
    parser.add_argument(
        "--creator-scale",
        type=int,
        default=0,
        metavar="N",
        help="also add 'bigcreator' with N models x 3 versions and 50*N images",
    )
    args = parser.parse_args(argv)

    def build(files, images):  # type: ignore[no-untyped-def]
        world = make_default_world(files, images)
        if args.creator_scale > 0:
            make_big_creator(world, models=args.creator_scale, images=50 * args.creator_scale)
        return world

    fake = FakeCivitai(world=build, api_port=args.port)
    with fake:
        print(f"api_base: {fake.api_base}")
        print(f"api_key:  {fake.api_key}")
        print(f"files:    {fake.files.base_url}")
        print(f"images:   {fake.images.base_url}")
        print("creators: " + ", ".join(c.username for c in fake.world.creators.values()))
        print(
            "try:      civittui --api-base "
            f"{fake.api_base} --api-key {fake.api_key} get {fake.api_base}/user/alice"
        )
        print("Ctrl-C to stop.", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
