"""--compose: the image beside a PostgreSQL server, brought up on the real engine; the
notebook's program reaches the database."""

import io
import shutil
import subprocess

import pytest
from conftest import SESSION_TAGS, TEST_PREFIX, execute, make_notebook

pytestmark = [pytest.mark.engine, pytest.mark.kernel]
POSTGRES = f"{TEST_PREFIX}postgres:15"

# No registry is reachable here, so the database image is made from Debian's postgresql.
POSTGRES_DOCKERFILE = b"""FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends postgresql && rm -rf /var/lib/apt/lists/*
USER postgres
RUN /usr/lib/postgresql/15/bin/initdb -D /var/lib/postgresql/data --auth=trust \\
 && echo "host all all all trust" >> /var/lib/postgresql/data/pg_hba.conf
CMD ["/usr/lib/postgresql/15/bin/postgres", "-D", "/var/lib/postgresql/data", "-c", "listen_addresses=*"]
"""

CHECK = """%%dockerize -t {tag} -q --compose postgres={postgres}
import os, socket, struct
with socket.create_connection((os.environ["PGHOST"], int(os.environ["PGPORT"])), timeout=10) as conn:
    conn.sendall(struct.pack("!ii", 8, 80877103))  # SSLRequest: a PostgreSQL server answers S or N
    answer = conn.recv(1)
assert answer in (b"S", b"N"), answer
print("postgres answered", answer.decode(), "at", os.environ["DATABASE_URL"])
"""


@pytest.fixture(scope="module")
def postgres_image(docker_client):
    if not docker_client.images.list(name=POSTGRES):
        docker_client.images.build(fileobj=io.BytesIO(POSTGRES_DOCKERFILE), tag=POSTGRES, rm=True, forcerm=True)
        SESSION_TAGS.append(POSTGRES)  # removed with this session's images
    return POSTGRES


def test_compose_brings_up_the_program_beside_postgres(docker_client, notebook_dir, tag, postgres_image):
    compose = shutil.which("docker-compose")
    assert compose, "docker-compose is missing: scripts/test.sh installs it"
    path = make_notebook(
        notebook_dir,
        ["rows = 3", "%load_ext dockermagic", CHECK.format(tag=tag, postgres=postgres_image), "print(_.compose)"],
    )
    run = execute(path)
    assert "UsageError" not in run.text(2) and not run.errors(2), run.text(2)
    compose_file = notebook_dir / f"{tag}.compose.yaml"
    assert compose_file.is_file() and str(compose_file) in run.text(3)
    project = ["-f", str(compose_file), "-p", tag]
    try:
        up = subprocess.run(
            [compose, *project, "up", "--abort-on-container-exit", "--exit-code-from", "program"],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert up.returncode == 0, up.stdout[-2000:] + up.stderr[-2000:]
        assert "postgres answered" in up.stdout and "postgresql://postgres:postgres@postgres:5432/postgres" in up.stdout
    finally:
        subprocess.run([compose, *project, "down", "-v", "--remove-orphans"], capture_output=True, timeout=120)
    assert docker_client.containers.list(all=True, filters={"label": f"com.docker.compose.project={tag}"}) == []
