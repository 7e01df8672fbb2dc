"""Run a notebook headless inside the image: ``python -m _dockermagic_runtime.notebook NOTEBOOK``.

Executes it with nbclient in a real kernel, prints each cell's text output as it finishes,
and writes the executed notebook, an HTML report and every PNG figure (``figures/``).
Exits with 1 when a cell fails (the executed notebook and report are still written).

It never hangs:

- nbclient waits for a cell's reply on the kernel's shell socket while, for widgets, it
  also sends on that socket (an Output widget's state); with pyzmq's asyncio sockets the
  wake-up for the reply can then be lost, and the wait never ends although the reply has
  arrived (jupyter/nbclient#312: ``interact(...)`` stalls a headless run). Here every wait
  on a kernel socket is cut into short slices (:data:`SLICE` seconds): each new slice polls
  the socket afresh and finds a reply that is already there.
- each cell has a timeout, ``DOCKERMAGIC_CELL_TIMEOUT`` seconds (default 1800; 0 or less:
  none); a cell that runs longer ends the run with one line naming it.
"""

import base64
import inspect
import os
import queue
import sys
import time

#: the longest single wait on a kernel socket, in seconds
SLICE = 0.2
#: default per-cell timeout, in seconds
DEFAULT_CELL_TIMEOUT = 1800


def cell_timeout(environ=os.environ):
    """The per-cell timeout from ``DOCKERMAGIC_CELL_TIMEOUT`` (None: no timeout)."""
    text = environ.get("DOCKERMAGIC_CELL_TIMEOUT", "").strip()
    try:
        seconds = int(float(text)) if text else DEFAULT_CELL_TIMEOUT
    except ValueError:
        print(f"dockermagic: DOCKERMAGIC_CELL_TIMEOUT={text!r} is not a number of seconds; using 1800", file=sys.stderr)
        seconds = DEFAULT_CELL_TIMEOUT
    return seconds if seconds > 0 else None


def sliced(get_msg, step=SLICE):
    """``get_msg`` (a channel's) waiting in slices of ``step`` seconds up to the caller's timeout.

    Raises ``queue.Empty`` only once the whole timeout has passed, as the original does.
    """

    async def get_msg_in_slices(timeout=None, **kwargs):
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            wait = step if deadline is None else max(0.0, min(step, deadline - time.monotonic()))
            try:
                reply = get_msg(timeout=wait, **kwargs)
                return await reply if inspect.isawaitable(reply) else reply
            except queue.Empty:
                if deadline is not None and time.monotonic() >= deadline:
                    raise

    return get_msg_in_slices


def _client_class():
    from nbclient import NotebookClient

    class SlicedWaitClient(NotebookClient):
        """nbclient's client whose waits on the kernel's sockets never outlast a lost wake-up."""

        async def async_start_new_kernel_client(self):
            client = await super().async_start_new_kernel_client()
            for channel in (client.shell_channel, client.iopub_channel):
                channel.get_msg = sliced(channel.get_msg)
            return client

    return SlicedWaitClient


def cell_name(cell, index):
    """``cell 3 (cell 5 of the kernel's notebook)`` for messages."""
    source = cell.get("metadata", {}).get("dockermagic", {}).get("source_cell")
    return f"cell {index + 1}" + (f" ({source} in the notebook)" if source and source != f"cell {index + 1}" else "")


def inject_parameters(nb):
    """Values of ``DOCKERMAGIC_PARAMETERS`` (``--param``, a sweep's point) in a new cell right after
    the one tagged ``parameters`` (or whose first line is ``# parameters``), as papermill injects them."""
    import json

    import nbformat

    text = os.environ.get("DOCKERMAGIC_PARAMETERS")
    if not text:
        return
    values = json.loads(text)
    for index, cell in enumerate(nb.cells):
        first = next((line.strip() for line in cell.source.splitlines() if line.strip()), "")
        if "parameters" in (cell.metadata.get("tags") or []) or first.lower().replace(" ", "") == "#parameters":
            source = "# Injected by dockermagic: run-time values of the parameters\n" + "\n".join(
                f"{name} = {literal}" for name, literal in values.items()
            )
            injected = nbformat.v4.new_code_cell(source)
            injected.metadata["tags"] = ["injected-parameters"]
            nb.cells.insert(index + 1, injected)
            return


def main(path):
    os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    import nbformat
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
    from nbconvert import HTMLExporter

    nb = nbformat.read(path, as_version=4)
    inject_parameters(nb)
    figures = []
    current = {"index": 0}
    timeout = cell_timeout()

    def on_cell_start(cell, cell_index):
        current["index"] = cell_index

    def on_cell_executed(cell, cell_index, execute_reply):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                sys.stdout.write(out.get("text", ""))
            elif out.get("output_type") in ("execute_result", "display_data"):
                data = out.get("data", {})
                if "image/png" in data:
                    figures.append(data["image/png"])
                    print(f"[dockermagic] figure {len(figures)} shown in cell {cell_index + 1}")
                elif "text/plain" in data:
                    print(data["text/plain"])
            elif out.get("output_type") == "error":
                print("\n".join(out.get("traceback", [])), file=sys.stderr)
        sys.stdout.flush()

    client = _client_class()(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": os.getcwd()}},
        on_cell_start=on_cell_start,
        on_cell_executed=on_cell_executed,
    )
    failed = False
    try:
        client.execute()
    except CellTimeoutError:
        failed = True
        index = current["index"]
        print(
            f"dockermagic: {cell_name(nb.cells[index], index)} did not finish within {timeout} s "
            "(DOCKERMAGIC_CELL_TIMEOUT): stopped",
            file=sys.stderr,
        )
    except DeadKernelError:
        failed = True
        index = current["index"]
        print(f"dockermagic: the kernel died while running {cell_name(nb.cells[index], index)}", file=sys.stderr)
    except CellExecutionError as exc:
        failed = True
        print(str(exc).splitlines()[-1] if str(exc) else "a cell failed", file=sys.stderr)
    finally:
        stem = os.path.splitext(os.path.basename(path))[0]
        nbformat.write(nb, f"{stem}.executed.ipynb")
        body, _ = HTMLExporter().from_notebook_node(nb)
        with open(f"{stem}.html", "w", encoding="utf-8") as f:
            f.write(body)
        if figures:
            os.makedirs("figures", exist_ok=True)
        for i, data in enumerate(figures, start=1):
            with open(os.path.join("figures", f"figure-{i:03d}.png"), "wb") as f:
                f.write(base64.b64decode(data))
        print(f"[dockermagic] wrote {stem}.executed.ipynb, {stem}.html and {len(figures)} figures")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "notebook.ipynb"))
