"""AMF0, the encoding of RTMP's commands (`connect`, `publish`, `onStatus` …): what an encoder
sends and what the node answers. Only the types encoders use; anything else is an error."""

from __future__ import annotations

import struct
from typing import Any

NUMBER, BOOLEAN, STRING, OBJECT, NULL, UNDEFINED, ECMA_ARRAY, OBJECT_END, STRICT_ARRAY, DATE, \
    LONG_STRING = 0x00, 0x01, 0x02, 0x03, 0x05, 0x06, 0x08, 0x09, 0x0A, 0x0B, 0x0C
MAX_DEPTH = 16  # nested objects; a deeper one is garbage or an attack


class AmfError(ValueError):
    """Bytes that are not AMF0 (or use a type encoders do not send)."""


class _Reader:
    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise AmfError("truncated AMF0 value")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def string(self, size_bytes: int = 2) -> str:
        (size,) = struct.unpack(">H" if size_bytes == 2 else ">I", self.take(size_bytes))
        try:
            return self.take(size).decode("utf-8")
        except UnicodeDecodeError:
            raise AmfError("an AMF0 string is not UTF-8") from None

    def properties(self, depth: int) -> dict[str, Any]:
        result: dict[str, Any] = {}
        while True:
            key = self.string()
            if not key and self.data[self.pos:self.pos + 1] == bytes([OBJECT_END]):
                self.pos += 1
                return result
            result[key] = self.value(depth + 1)

    def value(self, depth: int = 0) -> Any:
        if depth > MAX_DEPTH:
            raise AmfError("AMF0 objects nested too deep")
        marker = self.take(1)[0]
        if marker == NUMBER:
            return struct.unpack(">d", self.take(8))[0]
        if marker == BOOLEAN:
            return self.take(1)[0] != 0
        if marker == STRING:
            return self.string()
        if marker == LONG_STRING:
            return self.string(4)
        if marker == OBJECT:
            return self.properties(depth)
        if marker == ECMA_ARRAY:
            self.take(4)  # a count encoders do not always keep; the end marker is what counts
            return self.properties(depth)
        if marker == STRICT_ARRAY:
            (count,) = struct.unpack(">I", self.take(4))
            if count > len(self.data) - self.pos:
                raise AmfError("an AMF0 array longer than its message")
            return [self.value(depth + 1) for _ in range(count)]
        if marker == DATE:
            (millis,) = struct.unpack(">d", self.take(8))
            self.take(2)  # time zone, unused by the format's own rules
            return millis
        if marker in (NULL, UNDEFINED):
            return None
        raise AmfError(f"AMF0 type 0x{marker:02x} is not supported")


def decode_all(data: bytes) -> list[Any]:
    """Every value of a command or data message, in order."""
    reader = _Reader(data)
    values = []
    while reader.pos < len(data):
        values.append(reader.value())
    return values


def _string(text: str) -> bytes:
    raw = text.encode("utf-8")
    if len(raw) > 0xFFFF:
        return bytes([LONG_STRING]) + struct.pack(">I", len(raw)) + raw
    return bytes([STRING]) + struct.pack(">H", len(raw)) + raw


def encode(value: Any) -> bytes:
    if value is None:
        return bytes([NULL])
    if isinstance(value, bool):
        return bytes([BOOLEAN, int(value)])
    if isinstance(value, int | float):
        return bytes([NUMBER]) + struct.pack(">d", float(value))
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, dict):
        out = bytearray([OBJECT])
        for key, item in value.items():
            raw = str(key).encode("utf-8")
            out += struct.pack(">H", len(raw)) + raw + encode(item)
        return bytes(out + b"\x00\x00" + bytes([OBJECT_END]))
    raise TypeError(f"cannot encode {type(value).__name__} as AMF0")


def encode_all(*values: Any) -> bytes:
    return b"".join(encode(value) for value in values)
