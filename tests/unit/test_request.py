"""Requests: every option rule checked in one place, before anything runs."""

import pytest

from dockermagic.errors import DockermagicError, InvalidTag
from dockermagic.request import BuildRequest, PortBinding, RunRequest, parse_env, parse_port, parse_volume


def test_build_request_normalises_references_and_derives_the_service_rules():
    r = BuildRequest.from_options(tag="heart", push="localhost:5000/heart", compose=["postgres"])
    assert str(r.tag) == "heart:latest" and str(r.push) == "localhost:5000/heart:latest"
    assert r.compose == (("postgres", "postgres:16"),)
    assert (r.port, r.health_path, r.compiles, r.touches_engine) == (None, None, False, True)
    served = BuildRequest.from_options(serve="8000", function="predict")
    assert (served.port, served.health_path, served.compiles) == (8000, "/health", True)
    lab = BuildRequest.from_options(form="lab")
    assert (lab.port, lab.health_path, lab.compiles) == (8888, "/api", True)
    assert BuildRequest.from_options(serve=5000, body="app.run()").health_path is None
    assert BuildRequest.from_options(precompile=False, form="notebook").compiles is False
    assert (
        not BuildRequest.from_options(dry_run=True).touches_engine
        and not BuildRequest.from_options(context="ctx").touches_engine
    )


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"form": "poster"}, "unknown program form 'poster'"),
        ({"installer": "conda"}, "unknown installer"),
        ({"form": "notebook", "serve": 80, "body": "x"}, "go with the script form"),
        ({"function": "f"}, "--function NAME needs --serve PORT"),
        ({"serve": 8000}, "--serve PORT needs cell= code that starts the app"),
        ({"serve": 70000, "function": "f"}, "a port is a number from 1 to 65535"),
        ({"compose": ["mysql"]}, "--compose mysql: unknown service"),
    ],
)
def test_build_request_refuses_what_cannot_work(kwargs, message):
    with pytest.raises(DockermagicError, match=message):
        BuildRequest.from_options(**kwargs)


def test_build_request_checks_tags_and_push_targets():
    with pytest.raises(InvalidTag):
        BuildRequest.from_options(tag="Not_Valid!")
    with pytest.raises(InvalidTag):
        BuildRequest.from_options(push="http://x")


def test_ports_env_volumes():
    assert parse_port("8080:5000") == PortBinding("5000/tcp", "127.0.0.1", 8080)
    assert parse_port("5000") == PortBinding("5000/tcp", "127.0.0.1", 5000)
    assert parse_port("0.0.0.0:80:8000/udp").shown == "127.0.0.1:80"
    for bad in ("x", "1:2:3:4", "0:80", "80:70000", "80:80/sctp"):
        with pytest.raises(DockermagicError, match="invalid port"):
            parse_port(bad)
    assert parse_env(["A=1", "B"], environ={"B": "kernel's"}) == {"A": "1", "B": "kernel's"}
    with pytest.raises(DockermagicError, match="no such variable in the kernel's environment"):
        parse_env(["MISSING"], environ={})
    host, bind = parse_volume("data:/app/data:ro")
    assert host.endswith("/data") and bind == {"bind": "/app/data", "mode": "ro"}
    with pytest.raises(DockermagicError, match="invalid volume"):
        parse_volume("data:relative")


def test_run_request_parses_and_pins():
    r = RunRequest.from_options(
        image="heart", ports=["8080:5000"], env=["A=1"], volumes=["/d:/app/d"], command=["python"]
    )
    assert str(r.image) == "heart:latest" and r.ports[0].host_port == 8080
    assert r.env == {"A": "1"} and r.volumes == {"/d": {"bind": "/app/d", "mode": "rw"}}
    assert r.command == ("python",)
    with pytest.raises(DockermagicError, match="--timeout"):
        RunRequest.from_options(timeout=0)
    with pytest.raises(DockermagicError, match="--gpus"):
        RunRequest.from_options(gpus="many")
    with pytest.raises(DockermagicError, match="container name"):
        RunRequest.from_options(name="bad name")
