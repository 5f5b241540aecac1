"""`kelian serve` for load tests: the real command, with the relay's ICE kept on 127.0.0.1.

    python -m loadtest.serve --host 127.0.0.1 --port N   (KELIAN_* settings from the environment)

aioice would offer the relay's host candidates on every interface but loopback; the load test
keeps all its traffic on 127.0.0.1, so the relay gathers there only. Everything else is
`kelian serve` unchanged (server.cli).
"""

from __future__ import annotations

import sys

from .loopback import use_loopback_only


def main() -> int:
    use_loopback_only()
    from server.cli import main as kelian

    return kelian(["serve", *sys.argv[1:]])


if __name__ == "__main__":
    sys.exit(main())
