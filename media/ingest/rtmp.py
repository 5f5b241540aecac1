"""The server side of RTMP for encoders that publish (`rtmp://host/live/{stream key}`): the
handshake, the chunk stream, the few commands a publisher sends, and its audio and video as
FLV tags. Playback (`play`) is not offered: receivers use WebRTC or WHEP.

    session = RtmpSession(reader, writer)
    await session.handshake()
    request = await session.next_publish()      # connect, createStream … publish("key")
    await session.accept()  or  await session.refuse("NetStream.Publish.BadName", "…")
    async for tag in session.media():            # VideoTag / AudioTag until unpublish or EOF
        ...

Everything read is bounded (message size, chunk size, nesting, idle time) so a broken or
hostile client costs one connection, never the node.
"""

from __future__ import annotations

import asyncio
import logging
import os
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from . import amf0

log = logging.getLogger("kelian.media.rtmp")

HANDSHAKE_SIZE = 1536
VERSION = 3
MAX_MESSAGE = 8 * 1024 * 1024  # a 4K keyframe fits; a bigger "message" is garbage
MAX_CHUNK = 16 * 1024 * 1024
OUT_CHUNK = 4096
WINDOW = 2_500_000  # acknowledgement window we ask for and acknowledge by
HANDSHAKE_TIMEOUT_S = 10.0
IDLE_TIMEOUT_S = 30.0  # an encoder sends many messages a second; silence this long is a drop

# Message types (RTMP 1.0 §5.4, §7.1).
SET_CHUNK_SIZE, ABORT, ACK, USER_CONTROL, WINDOW_ACK_SIZE, SET_PEER_BANDWIDTH = 1, 2, 3, 4, 5, 6
AUDIO, VIDEO = 8, 9
DATA_AMF3, COMMAND_AMF3, DATA_AMF0, COMMAND_AMF0 = 15, 17, 18, 20

# FLV codec ids.
AVC = 7
AAC = 10
CODEC_NAMES = {2: "Sorenson H.263", 3: "screen video", 4: "VP6", 5: "VP6 alpha", 6: "screen v2",
               7: "H.264", 12: "H.265"}


class RtmpError(Exception):
    """The client broke the protocol, went silent, or asked for what is not offered."""


@dataclass(frozen=True)
class PublishRequest:
    app: str  # "live"
    key: str  # the stream name without its query string: the Source's stream key


@dataclass(frozen=True)
class VideoTag:
    timestamp_ms: int  # decoding time
    composition_ms: int  # presentation = decoding + this (B-frames)
    keyframe: bool
    codec: int  # FLV codec id; 7 = H.264
    config: bool  # an AVCDecoderConfigurationRecord (SPS/PPS), not a picture
    data: bytes


@dataclass(frozen=True)
class AudioTag:
    timestamp_ms: int
    codec: int  # FLV sound format; 10 = AAC
    config: bool  # an AudioSpecificConfig, not audio
    data: bytes


@dataclass
class _ChunkStream:
    """What a chunk stream remembers between chunks (headers may be compressed away)."""

    timestamp: int = 0
    delta: int = 0
    length: int = 0
    type_id: int = 0
    stream_id: int = 0
    extended: bool = False
    body: bytearray = field(default_factory=bytearray)


def _u24(data: bytes) -> int:
    return int.from_bytes(data, "big")


def video_tag(timestamp: int, body: bytes) -> VideoTag | None:
    """An FLV video tag body; None for an empty one (some encoders send those)."""
    if not body:
        return None
    frame_type, codec = body[0] >> 4, body[0] & 0x0F
    if codec != AVC:
        return VideoTag(timestamp, 0, frame_type == 1, codec, False, body[1:])
    if len(body) < 5:
        raise RtmpError("an H.264 video tag shorter than its header")
    packet_type = body[1]
    composition = int.from_bytes(body[2:5], "big", signed=True)
    if packet_type == 2:  # end of sequence
        return None
    return VideoTag(timestamp, composition, frame_type == 1, codec, packet_type == 0, body[5:])


def audio_tag(timestamp: int, body: bytes) -> AudioTag | None:
    if not body:
        return None
    codec = body[0] >> 4
    if codec == AAC:
        if len(body) < 2:
            raise RtmpError("an AAC audio tag shorter than its header")
        return AudioTag(timestamp, codec, body[1] == 0, body[2:])
    return AudioTag(timestamp, codec, False, body[1:])


class RtmpSession:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self._reader = reader
        self._writer = writer
        self._in_chunk = 128  # the protocol's default until the client says otherwise
        self._streams: dict[int, _ChunkStream] = {}
        self._received = 0
        self._acked = 0
        self._ack_window = WINDOW
        self._publish_txn = 0.0
        self._stream_id = 1
        self.publishing = False

    # Reading -----------------------------------------------------------------------------------

    async def _read(self, n: int, timeout: float = IDLE_TIMEOUT_S) -> bytes:
        try:
            data = await asyncio.wait_for(self._reader.readexactly(n), timeout)
        except asyncio.IncompleteReadError:
            raise RtmpError("the encoder closed the connection") from None
        except TimeoutError:
            raise RtmpError(f"the encoder sent nothing for {timeout:g} s") from None
        self._received += n
        return data

    async def handshake(self) -> None:
        """C0+C1 → S0+S1+S2 → C2, the simple handshake (no digest: publishers do not check)."""
        c0c1 = await self._read(1 + HANDSHAKE_SIZE, HANDSHAKE_TIMEOUT_S)
        if c0c1[0] != VERSION:
            raise RtmpError(f"not RTMP (first byte 0x{c0c1[0]:02x}, expected 0x03)")
        s1 = bytes(8) + os.urandom(HANDSHAKE_SIZE - 8)
        self._writer.write(bytes([VERSION]) + s1 + c0c1[1:])  # S2 echoes C1
        await self._writer.drain()
        await self._read(HANDSHAKE_SIZE, HANDSHAKE_TIMEOUT_S)  # C2, which echoes S1
        self._received = 0
        self._send(WINDOW_ACK_SIZE, struct.pack(">I", WINDOW))
        self._send(SET_PEER_BANDWIDTH, struct.pack(">IB", WINDOW, 2))
        self._send(SET_CHUNK_SIZE, struct.pack(">I", OUT_CHUNK))
        await self._writer.drain()

    async def _message(self) -> tuple[int, int, int, bytes]:
        """The next whole message: (type, message stream id, timestamp in ms, payload)."""
        while True:
            first = (await self._read(1))[0]
            fmt, csid = first >> 6, first & 0x3F
            if csid == 0:
                csid = 64 + (await self._read(1))[0]
            elif csid == 1:
                low, high = await self._read(2)
                csid = 64 + low + high * 256
            state = self._streams.get(csid)
            if state is None:
                if fmt != 0:
                    raise RtmpError(f"chunk stream {csid} starts without a full header")
                state = self._streams[csid] = _ChunkStream()
            new_message = not state.body
            if fmt == 0:
                header = await self._read(11)
                stamp = _u24(header[0:3])
                state.length, state.type_id = _u24(header[3:6]), header[6]
                state.stream_id = struct.unpack("<I", header[7:11])[0]
            elif fmt == 1:
                header = await self._read(7)
                stamp = _u24(header[0:3])
                state.length, state.type_id = _u24(header[3:6]), header[6]
            elif fmt == 2:
                stamp = _u24(await self._read(3))
            else:
                stamp = None
            if stamp is not None:
                state.extended = stamp == 0xFFFFFF
            if state.extended:
                extended = struct.unpack(">I", await self._read(4))[0]
                stamp = extended if stamp is not None else None
            if stamp is not None and new_message:
                if fmt == 0:
                    state.timestamp, state.delta = stamp, 0
                else:
                    state.delta = stamp
                    state.timestamp = (state.timestamp + stamp) & 0xFFFFFFFF
            elif stamp is None and new_message:  # fmt 3 opening a message: the last delta again
                state.timestamp = (state.timestamp + state.delta) & 0xFFFFFFFF
            if state.length > MAX_MESSAGE:
                raise RtmpError(f"a message of {state.length} bytes (at most {MAX_MESSAGE})")
            take = min(self._in_chunk, state.length - len(state.body))
            state.body += await self._read(take)
            await self._acknowledge()
            if len(state.body) >= state.length:
                body, state.body = bytes(state.body), bytearray()
                if await self._control(state.type_id, body):
                    continue
                return state.type_id, state.stream_id, state.timestamp, body

    async def _control(self, type_id: int, body: bytes) -> bool:
        """Protocol control messages are handled here; True when `body` was one."""
        if type_id == SET_CHUNK_SIZE:
            if len(body) < 4:
                raise RtmpError("a short Set Chunk Size")
            size = struct.unpack(">I", body[:4])[0] & 0x7FFFFFFF
            if not 1 <= size <= MAX_CHUNK:
                raise RtmpError(f"chunk size {size} out of range")
            self._in_chunk = size
            return True
        if type_id == WINDOW_ACK_SIZE:
            if len(body) >= 4:
                self._ack_window = max(1, struct.unpack(">I", body[:4])[0])
            return True
        if type_id == ABORT:
            if len(body) >= 4:
                stream = self._streams.get(struct.unpack(">I", body[:4])[0])
                if stream is not None:
                    stream.body = bytearray()
            return True
        return type_id in (ACK, USER_CONTROL, SET_PEER_BANDWIDTH)

    async def _acknowledge(self) -> None:
        if self._received - self._acked >= self._ack_window:
            self._acked = self._received
            self._send(ACK, struct.pack(">I", self._received & 0xFFFFFFFF))
            await self._writer.drain()

    # Writing -----------------------------------------------------------------------------------

    def _send(self, type_id: int, body: bytes, csid: int = 2, stream_id: int = 0) -> None:
        header = bytes([csid]) + bytes(3) + len(body).to_bytes(3, "big") + bytes([type_id]) \
            + struct.pack("<I", stream_id)
        size = OUT_CHUNK if type_id != SET_CHUNK_SIZE else 128  # before the peer knows ours
        out = bytearray(header + body[:size])
        for offset in range(size, len(body), size):
            out += bytes([0xC0 | csid]) + body[offset:offset + size]
        self._writer.write(bytes(out))

    def _command(self, *values: Any, stream_id: int = 0) -> None:
        self._send(COMMAND_AMF0, amf0.encode_all(*values), csid=3 if not stream_id else 5,
                   stream_id=stream_id)

    def _status(self, level: str, code: str, description: str) -> None:
        self._command("onStatus", 0, None,
                      {"level": level, "code": code, "description": description},
                      stream_id=self._stream_id)

    # Commands ----------------------------------------------------------------------------------

    async def next_publish(self) -> PublishRequest:
        """Answer connect, createStream and the like until the client asks to publish."""
        app = ""
        while True:
            type_id, _, _, body = await self._message()
            if type_id not in (COMMAND_AMF0, COMMAND_AMF3):
                continue  # metadata or media before publishing: not ours yet
            name, txn, args = self._parse_command(type_id, body)
            if name == "connect":
                props = args[0] if args and isinstance(args[0], dict) else {}
                app = str(props.get("app", "")).strip("/")
                self._send(WINDOW_ACK_SIZE, struct.pack(">I", WINDOW))
                self._command("_result", txn,
                              {"fmsVer": "FMS/3,0,1,123", "capabilities": 31.0},
                              {"level": "status", "code": "NetConnection.Connect.Success",
                               "description": "Connection succeeded.", "objectEncoding": 0.0})
            elif name == "createStream":
                self._command("_result", txn, None, float(self._stream_id))
            elif name == "publish":
                if len(args) < 2 or not isinstance(args[1], str) or not args[1]:
                    raise RtmpError("publish without a stream name")
                self._publish_txn = txn
                return PublishRequest(app, args[1].split("?", 1)[0])
            elif name == "play":
                self._status("error", "NetStream.Play.Failed",
                             "This server takes publishers only; watch with WebRTC or WHEP.")
                await self._writer.drain()
                raise RtmpError("a client asked to play")
            elif txn:  # releaseStream, FCPublish, getStreamLength …: acknowledged, not used
                self._command("_result", txn, None, None)
            await self._writer.drain()

    @staticmethod
    def _parse_command(type_id: int, body: bytes) -> tuple[str, float, list[Any]]:
        if type_id == COMMAND_AMF3:
            body = body[1:]  # an AMF3 command is AMF0 after a format byte
        try:
            values = amf0.decode_all(body)
        except amf0.AmfError as err:
            raise RtmpError(f"a garbled command: {err}") from None
        if len(values) < 2 or not isinstance(values[0], str):
            raise RtmpError("a command without a name")
        txn = values[1] if isinstance(values[1], float) else 0.0
        return values[0], txn, values[2:]

    async def accept(self) -> None:
        self._status("status", "NetStream.Publish.Start", "Publishing.")
        await self._writer.drain()
        self.publishing = True

    async def refuse(self, code: str, description: str) -> None:
        """Tell the encoder why (its log shows it), then hang up."""
        self._status("error", code, description)
        try:
            await self._writer.drain()
        finally:
            self.close()

    async def media(self) -> AsyncIterator[VideoTag | AudioTag]:
        """The published audio and video until the encoder unpublishes or disconnects."""
        while True:
            type_id, _, timestamp, body = await self._message()
            if type_id == VIDEO:
                tag: VideoTag | AudioTag | None = video_tag(timestamp, body)
            elif type_id == AUDIO:
                tag = audio_tag(timestamp, body)
            elif type_id in (COMMAND_AMF0, COMMAND_AMF3):
                name, _, _ = self._parse_command(type_id, body)
                if name in ("FCUnpublish", "deleteStream", "closeStream"):
                    return
                continue
            else:
                continue  # @setDataFrame metadata and the like
            if tag is not None:
                yield tag

    def close(self) -> None:
        self._writer.close()
