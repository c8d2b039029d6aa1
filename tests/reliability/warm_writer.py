"""A market-maker process that imports everything once, then forks one writer per command.

The crash test kills writers at random moments; starting Python and importing Prefect
costs seconds, paid here once. No thread runs at a fork (the imports start none), so each
child is a clean process: it sets the command's environment, runs ``market-maker`` with
the command's arguments, writes its output and exit code to files, and exits. Children
are reaped by the kernel (SIGCHLD ignored); a child killed by SIGKILL writes no exit code.

Commands are JSON lines on stdin: {"env": {...}, "argv": [...], "out": PATH, "err": PATH,
"code": PATH}; each is answered with the child's pid on stdout.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading

if __name__ == "__main__":
    import flows.backfill
    import flows.hourly_pipeline  # noqa: F401
    import market_maker.operator.grids  # noqa: F401
    from cli.main import main

    assert threading.active_count() == 1, "a thread at fork time would be unsafe"
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    print("ready", flush=True)
    for line in sys.stdin:
        command = json.loads(line)
        pid = os.fork()
        if pid:
            print(pid, flush=True)
            continue
        # The child waits for its own children (git, a Prefect server): SIGCHLD as usual.
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        for fd, path in ((1, command["out"]), (2, command["err"])):
            os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644), fd)
        os.environ.update(command["env"])
        try:
            code = main(command["argv"])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        sys.stdout.flush()
        sys.stderr.flush()
        with open(command["code"], "w") as handle:
            handle.write(str(code))
        sys.exit(code)
