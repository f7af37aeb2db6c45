"""A `joule serve` child for the end-to-end tests (serve_api.py, engine_api.py): started on a free
port, its stderr collected, killed with the test (also when ctest kills the test)."""
import ctypes
import os
import re
import signal
import subprocess
import threading

_prctl = ctypes.CDLL(None).prctl


def die_with_parent():
    """In the child before exec: SIGKILL when the test dies (a ctest timeout), so no server outlives it."""
    _prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG


class Server:
    """One `joule serve` child on a free port; its stderr is collected by a thread. Start it from the
    main thread (the death signal follows the thread that started it)."""

    def __init__(self, binary, *args, label="server", extra_env=None):
        self.label = label
        env = {k: v for k, v in os.environ.items() if not k.startswith("JOULE_")}
        env.update(extra_env or {})
        self.proc = subprocess.Popen([str(binary), "serve", "--port", "0", *args], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
                                     preexec_fn=die_with_parent)
        self.lines = []
        self.port = None
        ready = threading.Event()

        def pump():
            for raw in self.proc.stderr:
                line = raw.decode("utf-8", "replace").rstrip("\n")
                self.lines.append(line)
                m = re.match(r"\[joule\] serving .* at http://127\.0\.0\.1:(\d+)/v1$", line)
                if m and self.port is None:
                    self.port = int(m.group(1))
                    ready.set()
            ready.set()

        self.pump = threading.Thread(target=pump, daemon=True)
        self.pump.start()
        ready.wait(120)
        if self.port is None:
            self.kill()
            raise RuntimeError(f"{label}: no '[joule] serving ... at URL' line on stderr:\n" + self.stderr())

    def stderr(self):
        return "\n".join(self.lines[-40:])

    @property
    def base(self):
        return f"http://127.0.0.1:{self.port}/v1"

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            pass
