"""python -m media.renditions SOURCE OUT_DIR: make the renditions of one file, print them as JSON."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

from .errors import RenditionError
from .make import make_renditions
from .probe import probe


def _progress(fraction: float, speed: float) -> None:
    print(f"\r{fraction * 100:5.1f} %  {speed:4.2f}× real time", end="", file=sys.stderr,
          flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m media.renditions")
    parser.add_argument("source", type=Path)
    parser.add_argument("out_dir", type=Path, nargs="?", help="omit to only probe SOURCE")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    args = parser.parse_args(argv)
    try:
        if args.out_dir is None:
            result: object = probe(args.source)
        else:
            result = make_renditions(args.source, args.out_dir,
                                     None if args.quiet else _progress)
            if not args.quiet:
                print(file=sys.stderr)
    except RenditionError as exc:
        print(json.dumps({"error": exc.code, "message": exc.message}), file=sys.stderr)
        return 2
    print(json.dumps(asdict(result), default=str, indent=2))  # type: ignore[call-overload]
    return 0


if __name__ == "__main__":
    sys.exit(main())
