"""Run a notebook headless inside the image: ``python -m _dockermagic_runtime.notebook NOTEBOOK``.

Executes it with nbclient in a real kernel, prints each cell's text output as it finishes,
and writes the executed notebook, an HTML report and every PNG figure (``figures/``).
Exits with 1 when a cell fails (the executed notebook and report are still written).
"""

import base64
import os
import sys


def main(path):
    os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError
    from nbconvert import HTMLExporter

    nb = nbformat.read(path, as_version=4)
    figures = []

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

    client = NotebookClient(nb, timeout=None, kernel_name="python3", resources={"metadata": {"path": os.getcwd()}},
                            on_cell_executed=on_cell_executed)
    failed = False
    try:
        client.execute()
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
