"""The host/board serial link: frames, CRC, sequence numbers, the host, the board model and transports (:mod:`synemu.link.protocol`)."""
