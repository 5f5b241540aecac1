"""Just enough SDP reading for the control plane: which media sections an offer has, which way
each goes, and its mid. The relay parses and applies the SDP itself; this only lets an endpoint
refuse an offer that goes the wrong way with a clear reason, and label what a WHIP encoder
publishes."""

from __future__ import annotations

from dataclasses import dataclass

DIRECTIONS = frozenset({"sendrecv", "sendonly", "recvonly", "inactive"})


@dataclass(frozen=True)
class MediaSection:
    kind: str  # "audio", "video", "application", …
    mid: str | None
    direction: str  # as the offerer sees it

    @property
    def sends(self) -> bool:
        return self.kind in ("audio", "video") and self.direction in ("sendrecv", "sendonly")

    @property
    def receives(self) -> bool:
        return self.kind in ("audio", "video") and self.direction in ("sendrecv", "recvonly")


def media_sections(sdp: str) -> list[MediaSection]:
    """The offer's m-sections in order; ValueError when the text is not a session description."""
    lines = [line.strip() for line in sdp.replace("\r\n", "\n").split("\n") if line.strip()]
    if not lines or lines[0] != "v=0":
        raise ValueError("the body is not an SDP session description (it must start with v=0)")
    session_direction = "sendrecv"
    sections: list[tuple[str, str | None, str | None]] = []  # kind, mid, direction
    for line in lines[1:]:
        if len(line) < 2 or line[1] != "=":
            raise ValueError(f"malformed SDP line {line[:40]!r}")
        if line.startswith("m="):
            parts = line[2:].split()
            if len(parts) < 4:
                raise ValueError(f"malformed media line {line[:40]!r}")
            sections.append((parts[0], None, None))
        elif line.startswith("a="):
            attribute = line[2:]
            if attribute in DIRECTIONS:
                if sections:
                    kind, mid, _ = sections[-1]
                    sections[-1] = (kind, mid, attribute)
                else:
                    session_direction = attribute
            elif attribute.startswith("mid:") and sections:
                kind, _, direction = sections[-1]
                sections[-1] = (kind, attribute[4:], direction)
    if not sections:
        raise ValueError("the offer has no media section")
    return [MediaSection(kind, mid, direction or session_direction)
            for kind, mid, direction in sections]
