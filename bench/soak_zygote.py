"""A pre-imported launcher of ``sealpost serve`` for the kill campaign (``bench.soak``).

Owns the fast start. Importing Sealpost costs more than a second of CPU, which would make
a thousand start-load-kill cycles take hours on a small machine. This process imports it
once and then forks, for each ``start`` line on its stdin, a child that runs exactly what
``sealpost serve -c CONFIG`` runs (the CLI's ``serve`` command, so the config load, the
logging setup, the supervisor and its workers, the store opened afresh). Like a pre-fork
server's preload, no event loop, thread, socket or database connection exists here before
the fork. Each child leads its own process group, so ``kill -9`` of the group is a crash
of the whole server at once.

Protocol (lines on stdin, answers on stdout): ``start`` -> ``started PID`` (the child then
prints its own ``sealpost ready: ...`` line to the same stdout); ``wait PID`` -> ``exited
PID STATUS`` (the exit code, or minus the signal number).
"""

from __future__ import annotations

import os
import sys


def _preload() -> None:
    import uvicorn  # noqa: F401

    import sealpost.api.app
    import sealpost.app
    import sealpost.cli
    import sealpost.runner  # noqa: F401


def _child(config: str) -> None:
    os.setpgid(0, 0)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    status = 1
    try:
        from sealpost.cli import main

        sys.argv = ["sealpost", "serve", "-c", config]
        main()
        status = 0
    except SystemExit as exc:
        status = exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)


def main(config: str) -> None:
    _preload()
    for line in sys.stdin:
        words = line.split()
        if words == ["start"]:
            sys.stdout.flush()
            pid = os.fork()
            if pid == 0:
                _child(config)
            print(f"started {pid}", flush=True)
        elif len(words) == 2 and words[0] == "wait":
            _, status = os.waitpid(int(words[1]), 0)
            print(f"exited {words[1]} {os.waitstatus_to_exitcode(status)}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
