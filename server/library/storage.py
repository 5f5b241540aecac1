"""Where the library's files live. Rows keep paths relative to the library directory; this module
turns them into real paths and refuses any that would leave it."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from ..errors import ErrorCode, KelianError


@dataclass(frozen=True)
class DiskUsage:
    library_bytes: int
    free_bytes: int
    total_bytes: int

    @property
    def free_fraction(self) -> float:
        return self.free_bytes / self.total_bytes if self.total_bytes else 0.0


class LibraryStorage:
    def __init__(self, root: Path):
        self.root = root.resolve()

    def recording_dir(self, lesson_id: int) -> Path:
        return self.root / "recordings" / f"lesson-{lesson_id}"

    def resource_dir(self, resource_id: int) -> Path:
        return self.root / "resources" / str(resource_id)

    def upload_dir(self) -> Path:
        return self.root / "uploads"

    def relative(self, path: Path) -> str:
        return path.resolve().relative_to(self.root).as_posix()

    def path(self, relative: str) -> Path:
        """The real path of a library-relative one; never outside the library."""
        found = (self.root / relative).resolve()
        if found != self.root and self.root not in found.parents:
            raise KelianError(ErrorCode.not_found, "No such file in the library")
        return found

    def remove(self, relative: str) -> None:
        """Delete a file or folder of the library (gone already is fine)."""
        target = self.path(relative)
        if target == self.root:
            raise ValueError("refusing to delete the whole library")
        if target.is_dir():
            shutil.rmtree(target, ignore_errors=True)
        else:
            target.unlink(missing_ok=True)

    def usage(self) -> DiskUsage:
        self.root.mkdir(parents=True, exist_ok=True)
        total = sum(p.stat().st_size for p in self.root.rglob("*") if p.is_file())
        disk = shutil.disk_usage(self.root)
        return DiskUsage(library_bytes=total, free_bytes=disk.free, total_bytes=disk.total)
