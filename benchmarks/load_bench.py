"""How much ``%load_ext dockermagic`` adds to a kernel, measured in real kernels.

    python benchmarks/load_bench.py [--repeat 5]

For each repetition a fresh python3 kernel runs an empty cell (the baseline: the round trip of
an execute request), then ``%load_ext dockermagic``, then ``%dockerize?`` (the help, which a
first-time user reads). The figure is the time the extension adds over the baseline; the
target is at most 0.3 s. Medians over the repetitions are printed with the baseline.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

TARGET_SECONDS = 0.3


def timed(client, code: str) -> float:
    started = time.perf_counter()
    reply = client.execute_interactive(code, store_history=False, timeout=120, output_hook=lambda msg: None)
    if reply["content"]["status"] != "ok":
        raise RuntimeError(f"{code!r} failed in the kernel: {reply['content']}")
    return time.perf_counter() - started


def measure_once() -> dict:
    from jupyter_client.manager import start_new_kernel

    manager, client = start_new_kernel(kernel_name="python3")
    try:
        timed(client, "pass")  # the first request warms the channels
        baseline = statistics.median(timed(client, "pass") for _ in range(3))
        load = timed(client, "%load_ext dockermagic")
        helped = timed(client, "%dockerize?")
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    return {"baseline": baseline, "load": load, "help": helped}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    runs = [measure_once() for _ in range(args.repeat)]
    baseline = statistics.median(r["baseline"] for r in runs)
    load = statistics.median(r["load"] for r in runs)
    helped = statistics.median(r["help"] for r in runs)
    added = load - baseline
    verdict = "PASS" if added <= TARGET_SECONDS else "FAIL"
    print(f"load_bench: {args.repeat} fresh kernels, medians")
    print(f"  empty cell (baseline)        {baseline * 1000:7.1f} ms")
    print(f"  %load_ext dockermagic        {load * 1000:7.1f} ms  (+{added * 1000:.1f} ms over the baseline)")
    print(f"  %dockerize? afterwards       {helped * 1000:7.1f} ms")
    print(f"  target: %load_ext adds at most {TARGET_SECONDS * 1000:.0f} ms: {verdict}")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
