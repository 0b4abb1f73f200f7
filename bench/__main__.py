import signal
import sys

from bench.cli.main import main


def _terminate_as_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


# `kill PID` stops a command as Ctrl-C does: finished results stay, worker processes go too
signal.signal(signal.SIGTERM, _terminate_as_interrupt)
sys.exit(main())
