"""Run the program, then send what it wrote to the object store (tasks on other Swarm nodes).

    python -m _dockermagic_runtime.upload COMMAND [ARG ...]

When the task has the secret ``/run/secrets/dockermagic-upload`` (a presigned HTTP PUT URL of
one object, made by dockermagic for this point of the sweep; it holds no credentials), the
files under ``/app`` that the program created or changed are packed as ``tar.gz`` and PUT
there when the program ends, whatever its exit code. The exit code is the program's. Without
the secret the program just runs. Standard library only.
"""

import io
import os
import signal
import subprocess
import sys
import tarfile
import time
import urllib.request

SECRET = "/run/secrets/dockermagic-upload"
ROOT = os.environ.get("DOCKERMAGIC_APP", "/app")
SKIP = ("_dockermagic_runtime", "__pycache__")
PROJECT_FILES = "project-files"  # as dockermagic.layout.PROJECT_FILES


def written_since(root, since):
    """Files under ``root`` created or changed since ``since`` (a time), relative paths."""
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in SKIP]
        for name in files:
            path = os.path.join(folder, name)
            try:
                if os.path.isfile(path) and not os.path.islink(path) and os.stat(path).st_mtime >= since:
                    found.append(os.path.relpath(path, root))
            except OSError:
                continue
    return sorted(found)


def placed(root, name, workdir):
    """Where a file comes back: relative to the program's folder, or under ``project-files/``."""
    path = os.path.join(root, name)
    rel = os.path.relpath(path, workdir)
    return rel if not rel.startswith("..") else os.path.join(PROJECT_FILES, name)


def pack(root, names, workdir):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name in names:
            tar.add(os.path.join(root, name), arcname=placed(root, name, workdir), recursive=False)
    return buffer.getvalue()


def put(url, data, attempts=3):
    for attempt in range(attempts):
        request = urllib.request.Request(url, data=data, method="PUT")
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status
        except OSError as exc:
            if attempt == attempts - 1:
                print(f"[dockermagic] could not upload the outputs: {exc}", file=sys.stderr, flush=True)
            time.sleep(1 + attempt)
    return None


def main(argv):
    if not argv:
        print("usage: python -m _dockermagic_runtime.upload COMMAND [ARG ...]", file=sys.stderr)
        return 2
    try:
        with open(SECRET) as f:
            url = f.read().strip()
    except OSError:
        url = ""
    started = time.time() - 1
    child = subprocess.Popen(argv)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda number, frame: child.send_signal(number))
    code = child.wait()
    if url:
        names = written_since(ROOT, started)
        status = put(url, pack(ROOT, names, os.getcwd()))
        if status:
            print(f"[dockermagic] sent {len(names)} output files to the object store", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
