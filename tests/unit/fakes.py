"""A docker-py-style fake client, in the spirit of docker-py's own unit tests: it records what
dockermagic asks of the engine and answers from plain data."""

import io
import tarfile

from docker.errors import APIError, ImageNotFound, NotFound


class FakeImage:
    def __init__(self, image_id, tags=(), labels=None, size=1000):
        self.id = image_id
        self.tags = list(tags)
        self.labels = labels or {}
        self.attrs = {"Size": size}


class FakeResponse:
    """The HTTP response of a streaming request: its connection stays open until closed."""

    def __init__(self):
        self.closed = False

    def close(self):
        self.closed = True


class FakeAPI:
    def __init__(self, client):
        self.client = client
        self.calls = []
        self.chunks = []
        self.refuse_build = None
        self.closed = False
        self.hooks = {"response": []}  # requests.Session's, which docker-py's APIClient is
        self.responses = []

    def build(self, **kwargs):
        self.calls.append(("build", kwargs))
        response = FakeResponse()
        self.responses.append(response)
        for hook in self.hooks["response"]:
            hook(response)

        def stream():
            for chunk in self.chunks:
                if isinstance(chunk, BaseException):
                    raise chunk
                if callable(chunk):
                    chunk()
                    continue
                yield chunk
            if self.refuse_build:
                raise APIError("refused", explanation=self.refuse_build)

        return stream()

    def pull(self, ref, tag=None, stream=False, decode=False):
        self.calls.append(("pull", ref, tag))
        self.client.images.add(FakeImage("sha256:pulled", tags=[ref]))
        return iter([{"status": "Pulling", "id": "layer1", "progressDetail": {"current": 1, "total": 2}}])

    def push(self, ref, stream=False, decode=False):
        self.calls.append(("push", ref))
        return iter([{"status": "Pushed", "id": "layer1"}])

    def images(self, all=False):
        return [
            {"Id": i.id, "ParentId": i.parent, "Created": i.created, "RepoTags": i.tags or ["<none>:<none>"]}
            for i in self.client.images.items.values()
        ]

    def remove_image(self, image_id, noprune=False):
        self.calls.append(("remove_image", image_id))
        self.client.images.remove(image_id)

    def containers(self, all=False):
        return [
            {"Id": c.id, "ImageID": "sha256:" + (c.ancestor or "") * 5, "Created": c.created}
            for c in self.client.containers.items.values()
        ]

    def remove_container(self, container_id, force=False):
        self.calls.append(("remove_container", container_id))
        self.client.containers.items.pop(container_id, None)

    def close(self):
        self.closed = True


class FakeImages:
    def __init__(self):
        self.items = {}
        self.removed = []

    def add(self, image, parent=None, created=0):
        image.parent = parent or ""
        image.created = created
        self.items[image.id] = image
        return image

    def get(self, ref):
        for image in self.items.values():
            if ref == image.id or ref in image.tags or image.id.split(":")[-1].startswith(ref):
                return image
        raise ImageNotFound(f"no such image: {ref}")

    def remove(self, image_id, noprune=False, force=False):
        image = self.get(image_id)
        self.removed.append(image.id)
        del self.items[image.id]

    def list(self, **kwargs):
        return list(self.items.values())


class FakeContainer:
    def __init__(self, container_id, status="running", ancestor=None, created=None):
        import time

        self.id = container_id
        self.status = status
        self.ancestor = ancestor
        self.created = time.time() if created is None else created


class FakeContainers:
    def __init__(self):
        self.items = {}

    def list(self, all=False, filters=None):
        ancestor = (filters or {}).get("ancestor")
        return [c for c in self.items.values() if ancestor is None or c.ancestor == ancestor]


class FakeClient:
    def __init__(self):
        self.api = FakeAPI(self)
        self.images = FakeImages()
        self.containers = FakeContainers()


class ArchiveContainer:
    """A container whose ``get_archive`` returns a tar with the given members."""

    def __init__(self, members):
        self.members = members

    def get_archive(self, path):
        """As the engine does: the archive of ``path`` names its members from its last part on."""
        top = path.rstrip("/").rsplit("/", 1)[-1]
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            for name, data in self.members:
                parts = name.split("/")
                if top in parts:
                    name = "/".join(parts[parts.index(top) :])
                elif not name.startswith("/"):
                    continue
                info = tarfile.TarInfo(name)
                if data is None:
                    info.type = tarfile.SYMTYPE
                    info.linkname = "/etc/passwd"
                    tar.addfile(info)
                else:
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
        return iter([buffer.getvalue()]), {}


__all__ = ["APIError", "NotFound", "FakeClient", "FakeImage", "FakeContainer", "ArchiveContainer"]
