"""A live one-node Slurm cluster (Debian's slurm-wlm 22.05 and munge) in a scratch folder, for tests.

    with SlurmCluster() as cluster:
        subprocess.run(["sbatch", ...], env=cluster.env)

Everything (munge key and socket, slurm.conf, state, spool, logs, pid files) lives in a new
temporary folder; the daemons listen on free ports, run as root without systemd or cgroups, and
are stopped by PID when the block ends, also when it ends with an exception. `env` carries
SLURM_CONF for the client commands (sbatch, squeue, scancel).
"""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def node_hardware():
    """The node's CPUs, sockets, cores and memory as slurmd sees them (claiming more drains it)."""
    out = subprocess.run(["slurmd", "-C"], capture_output=True, text=True, check=True).stdout.split("\n")[0]
    fields = dict(f.split("=", 1) for f in out.split() if "=" in f)
    keep = ["CPUs", "Boards", "SocketsPerBoard", "CoresPerSocket", "ThreadsPerCore", "RealMemory"]
    return " ".join(f"{k}={fields[k]}" for k in keep if k in fields)


class SlurmCluster:
    def __init__(self, start_timeout_s=60):
        self.start_timeout_s = start_timeout_s
        self.procs = []
        self.dir = None
        self.env = None

    def __enter__(self):
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def _spawn(self, name, argv):
        log = open(self.dir / f"{name}.out", "wb")
        p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True)
        self.procs.append((name, p))
        return p

    def _start(self):
        for tool in ("munged", "mungekey", "slurmctld", "slurmd", "sbatch", "squeue", "sinfo"):
            if not shutil.which(tool):
                raise RuntimeError(f"{tool} is not installed (scripts/setup.sh installs slurm-wlm and munge)")
        self.dir = Path(tempfile.mkdtemp(prefix="joule-slurm-"))
        os.chmod(self.dir, 0o755)  # munged refuses a socket folder others can write to, or cannot reach
        d = self.dir
        for sub in ("state", "spool", "munge"):
            (d / sub).mkdir()
            os.chmod(d / sub, 0o755)
        key = d / "munge" / "munge.key"
        subprocess.run(["mungekey", "--create", f"--keyfile={key}"], check=True, capture_output=True)
        os.chmod(key, 0o600)
        sock = d / "munge" / "munge.sock"
        self.env = dict(os.environ, SLURM_CONF=str(d / "slurm.conf"))
        self._spawn("munged", ["munged", "-F", "--force", f"--socket={sock}", f"--key-file={key}",
                               f"--log-file={d / 'munge' / 'munged.log'}", f"--pid-file={d / 'munge' / 'munged.pid'}",
                               f"--seed-file={d / 'munge' / 'munged.seed'}"])
        self._wait(lambda: sock.exists(), "munged's socket")
        (d / "slurm.conf").write_text(f"""ClusterName=joule-test
SlurmctldHost=localhost
SlurmctldPort={free_port()}
SlurmdPort={free_port()}
SlurmUser=root
AuthType=auth/munge
AuthInfo=socket={sock}
CredType=cred/munge
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
StateSaveLocation={d / 'state'}
SlurmdSpoolDir={d / 'spool'}
SlurmctldPidFile={d / 'slurmctld.pid'}
SlurmdPidFile={d / 'slurmd.pid'}
SlurmctldLogFile={d / 'slurmctld.log'}
SlurmdLogFile={d / 'slurmd.log'}
NodeName=localhost NodeAddr=127.0.0.1 {node_hardware()} State=UNKNOWN
PartitionName=test Nodes=localhost Default=YES MaxTime=INFINITE State=UP
""")
        self._spawn("slurmctld", ["slurmctld", "-D", "-i"])
        self._spawn("slurmd", ["slurmd", "-D", "-N", "localhost"])

        def idle():
            r = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, env=self.env)
            return r.returncode == 0 and r.stdout.strip() == "idle"
        self._wait(idle, "the node to be idle")

    def _wait(self, ready, what):
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            for name, p in self.procs:
                if p.poll() is not None:
                    raise RuntimeError(f"{name} exited with {p.returncode} while waiting for {what}: {self.log_tail(name)}")
            if ready():
                return
            time.sleep(0.2)
        raise RuntimeError(f"timed out after {self.start_timeout_s} s waiting for {what}: {self.log_tail('slurmctld')}")

    def log_tail(self, name, n=2000):
        for f in (self.dir / f"{name}.log", self.dir / f"{name}.out"):
            if f.exists() and f.stat().st_size:
                return f.read_text(errors="replace")[-n:]
        return "(no log)"

    def stop(self):
        """Every daemon by PID: SIGTERM, then SIGKILL after 10 s; the scratch folder goes too."""
        for name, p in reversed(self.procs):
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for name, p in reversed(self.procs):
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(10)
        self.procs = []
        if self.dir and os.environ.get("JOULE_KEEP_SLURM_DIR") != "1":
            shutil.rmtree(self.dir, ignore_errors=True)
