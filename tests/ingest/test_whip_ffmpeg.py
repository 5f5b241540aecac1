"""FFmpeg's own WHIP output (the `whip` muxer of FFmpeg 8, as PyAV bundles it) publishes into a
running lesson, as an encoder built on FFmpeg would: H.264 and Opus, its own ICE, and DTLS as
the server with an EC or an RSA certificate (aiortc alone refused RSA). A teaching point on /ws
decodes the pictures; the relay decoded and encoded nothing."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from server.keys import LIVE
from tests.helpers import eventually
from tests.live.conftest import SQLITE_ONLY, Starter
from tests.live.media_client import MediaClient
from tests.live.world import World
from tests.live.wsclient import join

from .conftest import SourceMaker

pytestmark = pytest.mark.slow  # a real encoder and decoders for seconds

ROOT = Path(__file__).resolve().parents[2]
WIDTH, HEIGHT = 320, 180  # tests/ingest/whip_encoder.py's picture

def _certificate(directory: Path, kind: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1()) if kind == "ec" \
        else rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "encoder")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=2))
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / f"{kind}-cert.pem", directory / f"{kind}-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@SQLITE_ONLY
@pytest.mark.parametrize("certificate", ["ec", "rsa"])
async def test_ffmpeg_whip_output_publishes_into_a_lesson(
        live_app: TestClient, world: World, start: Starter, make_source: SourceMaker,
        certificate: str, tmp_path: Path) -> None:
    lesson_id = await start("dedicated")
    room = live_app.app[LIVE].get(lesson_id)
    assert room is not None
    encoder = await make_source("hub", name="FFmpeg encoder")
    pa_ws, _ = await join(live_app, world.tokens["pa_tv"], lesson_id, "pa")
    pa = MediaClient(pa_ws)
    url = str(live_app.make_url(f"/whip/{encoder.key}"))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.ingest.whip_encoder", url, encoder.key, "30",
        *map(str, _certificate(tmp_path, certificate)), cwd=ROOT,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    try:
        joined = (await pa_ws.event("participant.joined", timeout=20))["participant"]
        assert joined["name"] == "FFmpeg encoder" and joined["role"] == "host_classroom"
        await eventually(lambda: pa.active_kinds() == ["audio", "video"], timeout=20)
        transceiver = next(t for t in pa.active() if t.kind == "video")
        frames = [await asyncio.wait_for(transceiver.receiver.track.recv(), 15)
                  for _ in range(10)]
        assert {(f.width, f.height) for f in frames} == {(WIDTH, HEIGHT)}  # type: ignore[union-attr]
        codecs = {p.codec.lower() for p in room.media.publications()}
        assert codecs == {"video/h264", "audio/opus"}
        stats = room.media.stats()
        assert stats.decoders_started == 0 and stats.encoders_started == 0
        assert proc.returncode is None  # still publishing
    except BaseException:
        if proc.returncode is not None and proc.stderr is not None:
            print((await proc.stderr.read()).decode(errors="replace"))
        raise
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
        await pa.close()
        await pa_ws.close()
