"""The relay: an SFU on aiortc that forwards RTP packets and never decodes or encodes them."""
