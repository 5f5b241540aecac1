"""Ingest that the node pulls itself (the relay's own WHIP/WHEP endpoints live in `server`):

- `rtsp`: an IP camera pulled over RTSP with PyAV and offered to the relay as an in-process
  WebRTC publisher; H.264 is forwarded as it is (repacketized), anything else encoded once.
- `rtmp`, `amf0`, `flv`: the server side of RTMP for encoders that push, and their FLV tags
  turned into H.264 packets (forwarded) and audio frames (encoded once to Opus).
- `publisher`: the in-process WebRTC publisher both use; `feed`: its tracks and timelines.
"""
