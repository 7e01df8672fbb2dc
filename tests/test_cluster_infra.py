"""The multi-engine test infrastructure itself (tests/cluster.py): three real engines in network namespaces as a
Swarm, a registry and an S3 store; and that stopping it leaves nothing behind."""

import subprocess
import time
from pathlib import Path

import docker
import pytest
from cluster import DATA_ROOT, HOST_DOCKER, LABEL, Cluster, _alive, _processes
from docker.types import ServiceMode

pytestmark = [pytest.mark.cluster, pytest.mark.engine]


@pytest.fixture(scope="module")
def cluster(docker_client):  # docker_client: the machine's engine and base images made ready (conftest)
    c = Cluster(engines=3)
    started = time.monotonic()
    c.start()
    print(f"\ncluster started in {time.monotonic() - started:.1f} s: {c.timings}")
    yield c
    c.stop()  # a no-op when the last test stopped it already


def _sh(*cmd):
    return subprocess.run(cmd, capture_output=True, text=True).stdout


def test_replicated_job_from_the_registry_runs_on_several_nodes(cluster, tmp_path):
    (tmp_path / "Dockerfile").write_text('FROM python:3.11-slim\nCOPY task.py /task.py\nCMD ["python3", "/task.py"]\n')
    (tmp_path / "task.py").write_text("import os, time\ntime.sleep(2)\nprint('ran on', os.environ['DMNODE'])\n")
    image = f"{cluster.registry}/dmc-smoke:{cluster.id}"
    manager = cluster.manager.client
    started = time.monotonic()
    manager.images.build(path=str(tmp_path), tag=image, labels={LABEL: cluster.id}, rm=True)
    cluster.push(image)
    print(f"\nbuilt and pushed {image} in {time.monotonic() - started:.1f} s")
    # the workers do not have it: they must pull it from the registry
    for node in cluster.workers:
        with pytest.raises(docker.errors.ImageNotFound):
            node.client.images.get(image)

    started = time.monotonic()
    service = manager.services.create(
        image,
        name=f"{cluster.id}-job",
        mode=ServiceMode("replicated-job", replicas=6, concurrency=6),
        env=["DMNODE={{.Node.Hostname}}"],
        labels={LABEL: cluster.id},
    )
    tasks = cluster.wait_for_job(service, timeout=180)
    print(f"6-task job done in {time.monotonic() - started:.1f} s")

    assert len(tasks) == 6 and all(t["Status"]["State"] == "complete" for t in tasks)
    assert all(t["Status"]["ContainerStatus"]["ExitCode"] == 0 for t in tasks)
    used = sorted(cluster.node_index(t["NodeID"]) for t in tasks)
    print("tasks per node:", {i: used.count(i) for i in set(used)})
    assert None not in used and len(set(used)) >= 2, used
    # a worker that ran a task pulled the image from the registry
    worker = next(n for n in cluster.workers if n.index in used)
    assert worker.client.images.get(image)


def test_a_container_on_a_worker_uploads_to_s3(cluster):
    s3 = cluster.s3_client()
    key = f"smoke/{cluster.id}.txt"
    # the store checks signatures (an identity is configured): the container gets a presigned URL (SigV4, made
    # on the host for the endpoint the container uses) and uses plain urllib, since python:3.11-slim has no boto3
    url = s3.generate_presigned_url("put_object", Params={"Bucket": cluster.s3_bucket, "Key": key}, ExpiresIn=600)
    unsigned = f"{cluster.s3_endpoint}/{cluster.s3_bucket}/{key}.unsigned"
    program = (
        "import os, urllib.request, urllib.error\n"
        "def put(url, body):\n"
        "    req = urllib.request.Request(url, data=body, method='PUT', headers={'Content-Type': ''})\n"
        "    try:\n"
        "        return urllib.request.urlopen(req, timeout=30).status\n"
        "    except urllib.error.HTTPError as e:\n"
        "        return e.code\n"
        "refused = put(os.environ['UNSIGNED_URL'], b'nobody')\n"
        "body = f\"from {os.environ['DMNODE']} unsigned={refused}\".encode()\n"
        "status = put(os.environ['PUT_URL'], body)\n"
        "print('upload', status)\n"
        "raise SystemExit(0 if status == 200 else 1)\n"
    )
    worker = cluster.nodes[1]
    service = cluster.manager.client.services.create(
        "python:3.11-slim",
        ["python3", "-c", program],
        name=f"{cluster.id}-upload",
        mode=ServiceMode("replicated-job", replicas=1),
        constraints=[f"node.labels.dmnode=={worker.index}"],
        env=[f"PUT_URL={url}", f"UNSIGNED_URL={unsigned}", "DMNODE={{.Node.Hostname}}"],
        labels={LABEL: cluster.id},
    )
    (task,) = cluster.wait_for_job(service, timeout=120)
    assert task["NodeID"] == worker.node_id

    body = s3.get_object(Bucket=cluster.s3_bucket, Key=key)["Body"].read().decode()
    assert body == f"from {worker.name} unsigned=403"
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=cluster.s3_bucket).get("Contents", [])]
    assert key in listed and f"{key}.unsigned" not in listed


def test_stop_leaves_nothing_behind(cluster):
    netns, bridge, run_dir, tmp_dir = [n.name for n in cluster.nodes], cluster.bridge, cluster.run_dir, cluster.tmp_dir
    pids = [n.pid for n in cluster.nodes] + [s["pid"] for s in cluster._services.values()]
    slots = [n.data_root for n in cluster.nodes]
    assert all(pid and _alive(pid) for pid in pids)

    cluster.stop()
    print(f"cluster stopped in {cluster.timings['stop']:.1f} s")
    cluster.stop()  # idempotent

    assert not set(netns) & set(_sh("ip", "netns", "list").split())
    links = _sh("ip", "-o", "link", "show")
    assert all(f" {name}:" not in links and f" {name}@" not in links for name in [bridge, *netns])
    rules = _sh("iptables", "-S", "FORWARD") + _sh("iptables", "-t", "nat", "-S", "POSTROUTING")
    assert bridge not in rules
    assert not any(_alive(pid) for pid in pids)
    marks = (str(run_dir), str(tmp_dir))
    assert not [argv for _, argv in _processes() if any(m in " ".join(argv) for m in marks)]
    assert not run_dir.exists() and not tmp_dir.exists()
    mounts = Path("/proc/self/mountinfo").read_text()
    assert str(run_dir) not in mounts and not any(f" {slot}/" in mounts for slot in slots)
    # the kept data roots hold no swarm state, no containers and only the base images
    for root in slots:
        assert root.parent == DATA_ROOT
        assert not (root / "swarm").exists()
        assert not any((root / "containers").iterdir())
        tags = (root / "image" / "overlay2" / "repositories.json").read_text()
        assert "dmc-smoke" not in tags and cluster.id not in tags
    # the machine's own engine never joined a swarm
    assert docker.DockerClient(base_url=HOST_DOCKER, version="auto").info()["Swarm"]["LocalNodeState"] == "inactive"
