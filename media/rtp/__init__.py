"""RTP wire helpers for the relay: header reading and rewriting, number mappings."""
