"""The media plane: relay, ingest, recording and transcoding. Never imports `server`."""
