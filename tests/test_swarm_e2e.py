"""Sweeps and replicated services on a real Docker Swarm: three engines in their own network
namespaces (tests/cluster.py), a real registry and a real S3-compatible store, driven from
real kernels whose DOCKER_HOST is the manager."""

import http.server
import json
import threading
import time
import urllib.error
import urllib.request

import pytest
from cluster import Cluster
from conftest import execute, make_notebook

pytestmark = [pytest.mark.cluster, pytest.mark.engine, pytest.mark.kernel, pytest.mark.timeout(1500)]

SWEEP_NOTEBOOK = [
    "# parameters\nC = 1.0\nseed = 0",
    "import os, time, urllib.request\nimport dockermagic\n"
    "flaky = os.environ.get('FLAKY_URL')\n"
    "if flaky and C == 1 and seed == 1:\n"
    "    attempt = int(urllib.request.urlopen(flaky + 'C1-seed1').read())\n"
    "    if attempt == 1:\n        raise SystemExit('the first attempt of C=1, seed=1 fails')\n"
    "time.sleep(float(os.environ.get('NAP', '1')))\nscore = C * 10 + seed",
    "with open('score.txt', 'w') as f:\n    f.write(f'{score} on {os.uname().nodename}')\n"
    "dockermagic.record('score', score)",
    "%load_ext dockermagic",
]
SERVICE_NOTEBOOK = [
    "VERSION = '{version}'",
    "def predict(x=0):\n    return {{'version': VERSION, 'x': x}}",
    "%load_ext dockermagic",
]


@pytest.fixture(scope="module")
def cluster(docker_client):
    c = Cluster(engines=3)
    c.start()
    yield c
    c.stop()


@pytest.fixture
def counter(cluster):
    """An HTTP counter on the bridge, reachable from every node: GET /NAME answers how many
    times NAME was asked (1 the first time), so a task knows its attempt."""
    counts = {}

    class Count(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            counts[self.path] = counts.get(self.path, 0) + 1
            body = str(counts[self.path]).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer((cluster.gateway, 0), Count)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://{cluster.gateway}:{server.server_address[1]}/", counts
    server.shutdown()


def _env(cluster, aws=True):
    return {"DOCKER_HOST": cluster.manager_host, **(cluster.aws_env if aws else {})}


def _usage_error(text):
    lines = [line for line in text.splitlines() if line.startswith("UsageError: ")]
    assert len(lines) == 1 and "Traceback" not in text, text
    return lines[0][len("UsageError: ") :]


def _left(cluster, label, wait=30):
    """What is left of ``label`` after up to ``wait`` s (Swarm stops a removed service's tasks
    in the background): services, and containers on any node, as names and states."""
    deadline = time.monotonic() + wait
    while True:
        services = [s.name for s in cluster.manager.client.services.list(filters={"label": label})]
        containers = [
            f"{c.name} ({c.status})"
            for node in cluster.nodes
            for c in node.client.containers.list(all=True, filters={"label": label})
        ]
        if not (services or containers) or time.monotonic() > deadline:
            return services + containers
        time.sleep(0.5)


def test_a_sweep_over_the_swarm_retries_resumes_and_brings_every_output_back(cluster, counter, notebook_dir, tag):
    url, counts = counter
    image = f"{cluster.registry}/{tag}:v1"
    store = f"s3://{cluster.s3_bucket}/sweeps"
    cells = SWEEP_NOTEBOOK + [
        f"img = %dockerize -t {image} --push {image} -q",
        f"sweep = %docker_sweep {image} --grid C=0.1,1,10 --grid seed=1,2 --parallel 3 --retries 1 "
        f"--store {store} --name swarmgrid -e FLAKY_URL={url}",
        "import json\nprint('TABLE', sweep.table[['C', 'seed', 'status', 'attempts', 'node', 'score']]"
        ".to_json(orient='records'))",
        f"again = %docker_sweep {image} --grid C=0.1,1,10 --grid seed=1,2 --store {store} --name swarmgrid --resume\n"
        "print('STATUSES', sorted(set(again.table['status'])))",
    ]
    run = execute(make_notebook(notebook_dir, cells), extra_env=_env(cluster))
    for i in range(4, 8):
        assert "UsageError" not in run.text(i) and not run.errors(i), (i, run.text(i))
    table = json.loads(run.text(6).split("TABLE ", 1)[1].splitlines()[0])
    assert len(table) == 6 and {row["status"] for row in table} == {"done"}, table
    assert len({row["node"] for row in table}) >= 2, table  # the points ran on more than one node
    assert sorted(row["score"] for row in table) == sorted(c * 10 + s for c in (0.1, 1, 10) for s in (1, 2))
    flaky = next(row for row in table if row["C"] == 1 and row["seed"] == 1)
    assert flaky["attempts"] == 2 and counts["/C1-seed1"] == 2, (flaky, counts)
    folder = notebook_dir / "dockermagic-outputs" / "swarmgrid"
    written = {p.name: (p / "score.txt").read_text() for p in folder.iterdir()}
    # each point's own file came back from whichever node ran it (through the store)
    assert sorted(float(text.split(" on ")[0]) for text in written.values()) == sorted(
        c * 10 + s for c in (0.1, 1, 10) for s in (1, 2)
    )
    assert json.loads((folder / "C-10_seed-2" / "records.json").read_text()) == {"score": 102}
    assert "STATUSES ['skipped']" in run.text(7)
    assert _left(cluster, "org.dockermagic.sweep=swarmgrid") == []
    assert cluster.manager.client.secrets.list(filters={"label": "org.dockermagic.sweep=swarmgrid"}) == []


def test_an_interrupted_swarm_sweep_leaves_no_service_or_container(cluster, notebook_dir, tag):
    from test_run_e2e import MIME, Kernel

    image = f"{cluster.registry}/{tag}:nap"
    path = make_notebook(notebook_dir, SWEEP_NOTEBOOK)
    kernel = Kernel(notebook_dir, env={**_env(cluster), "JPY_SESSION_NAME": str(path)})
    try:
        for cell in SWEEP_NOTEBOOK:
            kernel.run(cell)
        out = Kernel.text(kernel.run(f"img = %dockerize -t {image} --push {image} -q"))
        assert "UsageError" not in out, out
        seen = {}

        def interrupt_when_running(msg):
            data = msg["content"].get("data", {})
            sweep = data.get(MIME) or {}
            if (
                sweep.get("kind") == "sweep"
                and not seen
                and sum(p["status"] == "running" for p in sweep["points"]) >= 2
            ):
                seen["at"] = time.monotonic()
                kernel.km.interrupt_kernel()

        store = f"s3://{cluster.s3_bucket}/stopped"
        messages = kernel.run(
            f"%docker_sweep {image} --grid C=1,2,3 --parallel 3 --store {store} --name stopme -e NAP=120",
            on_message=interrupt_when_running,
        )
        assert seen, Kernel.text(messages)
        text = Kernel.text(messages)
        assert "UsageError: interrupted: the sweep stopme stopped every task it started" in text, text
        assert "Traceback" not in text
        assert messages[-1][0] - seen["at"] < 60
    finally:
        kernel.close()
    assert _left(cluster, "org.dockermagic.sweep=stopme") == []


def test_swarm_bad_input_is_refused_before_anything_starts(cluster, docker_client, notebook_dir, tag):
    local_only = f"{tag}:local"
    never_pushed = f"{cluster.registry}/{tag}-never:v1"
    cells = SWEEP_NOTEBOOK + [
        f"img = %dockerize -t {local_only} -q",
        f"%docker_sweep {local_only} --grid C=1 --store s3://{cluster.s3_bucket}/x",
        f"%docker_tag_never = None\nimport docker\ndocker.from_env().images.get('{local_only}').tag('{never_pushed}')",
        f"%docker_sweep {never_pushed} --grid C=1 --store s3://{cluster.s3_bucket}/x",
        f"%docker_sweep {local_only} --grid C=1",
        f"%docker_sweep {local_only} --grid C=",
    ]
    cells[6] = f"import docker\ndocker.from_env().images.get('{local_only}').tag('{never_pushed}')"
    run = execute(make_notebook(notebook_dir, cells), extra_env=_env(cluster))
    assert "exists only on the manager and the Swarm has 3 nodes" in _usage_error(run.text(5))
    assert f"the nodes cannot pull {never_pushed}" in _usage_error(run.text(7))
    assert "give --store s3://BUCKET/PREFIX" in _usage_error(run.text(8))
    assert "--grid C: give at least one value" in _usage_error(run.text(9))
    no_credentials = execute(
        make_notebook(
            notebook_dir,
            ["%load_ext dockermagic", f"%docker_sweep {local_only} --grid C=1 --store s3://b/x"],
            name="nocreds.ipynb",
        ),
        extra_env=_env(cluster, aws=False),
    )
    assert "no credentials: set AWS_ACCESS_KEY_ID" in _usage_error(no_credentials.text(1))
    on_a_plain_engine = execute(
        make_notebook(
            notebook_dir,
            ["%load_ext dockermagic", f"%docker_sweep {local_only} --grid C=1 --swarm"],
            name="plain.ipynb",
        ),
    )
    assert "is not a Swarm manager" in _usage_error(on_a_plain_engine.text(1))
    assert _left(cluster, f"org.dockermagic.image={local_only}") == []


def _ask(address, port, timeout=2):
    request = urllib.request.Request(
        f"http://{address}:{port}/predict", data=b'{"x": 1}', headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.load(response)["version"]


def test_a_served_model_with_a_replica_per_node_and_a_rolling_update_without_failed_requests(
    cluster, notebook_dir, tag
):
    image = f"{cluster.registry}/{tag}-api:latest"
    name = f"{tag}-svc"
    first = make_notebook(
        notebook_dir,
        [c.format(version="v1") for c in SERVICE_NOTEBOOK]
        + [
            f"img = %dockerize -t {image} --serve 8000 --function predict --push {image} -q",
            f"svc = %docker_run {image} -p 8080:8000 --replicas 3 -d --publish-mode host --name {name}",
            "%docker_ps",
        ],
        name="api.ipynb",
    )
    run = execute(first, extra_env=_env(cluster))
    for i in (3, 4, 5):
        assert "UsageError" not in run.text(i) and not run.errors(i), (i, run.text(i))
    assert name in run.text(5) and "service 3/3" in run.text(5)
    service = cluster.manager.client.services.get(name)
    nodes = {t["NodeID"] for t in service.tasks() if t["DesiredState"] == "running"}
    assert len(nodes) == 3  # one replica per node
    addresses = [node.address for node in cluster.nodes]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            assert [_ask(a, 8080) for a in addresses] == ["v1"] * 3
            break
        except (OSError, AssertionError):
            time.sleep(0.5)
    else:
        pytest.fail("the replicas did not answer on every node")

    # a bounded loop of requests spread over the nodes while the service rolls to v2; a client
    # whose node is being replaced asks the next node, as a DNS round-robin client does
    answers, failures, stop = [], [], threading.Event()

    def ask_loop():
        i = 0
        while not stop.is_set() and len(answers) < 5000:
            for attempt in range(len(addresses)):
                try:
                    answers.append(_ask(addresses[(i + attempt) % len(addresses)], 8080))
                    break
                except OSError:
                    continue
            else:
                failures.append(i)
            i += 1
            time.sleep(0.02)

    second = make_notebook(
        notebook_dir,
        [c.format(version="v2") for c in SERVICE_NOTEBOOK]
        + [
            f"img = %dockerize -t {image} --serve 8000 --function predict --push {image} -q",
            f"%docker_run {image} --update",
        ],
        name="api.ipynb",
    )
    loop = threading.Thread(target=ask_loop)
    loop.start()
    try:
        run = execute(second, extra_env=_env(cluster))
    finally:
        time.sleep(1)
        stop.set()
        loop.join()
    for i in (3, 4):
        assert "UsageError" not in run.text(i) and not run.errors(i), (i, run.text(i))
    assert failures == [], f"{len(failures)} requests failed during the update"
    assert "v1" in answers and answers[-1] == "v2", answers[-20:]
    assert [_ask(a, 8080) for a in addresses] == ["v2"] * 3
    stopped = execute(
        make_notebook(notebook_dir, ["%load_ext dockermagic", f"%docker_stop {name}"], name="stop.ipynb"),
        extra_env=_env(cluster),
    )
    assert f"stopped and removed service {name}" in stopped.text(1)
    assert _left(cluster, f"org.dockermagic.image={image}") == []
