"""Figures of agent runs through the k8s_launcher adapter, real at every hop (the same setup
as tests/paperclip/test_chain.py: the real Paperclip server with the adapter as the generated
manifests install it, the generated launcher, the test control plane):

* wakeup -> first log line in Paperclip's run log;
* Job done -> run finished in Paperclip;
* a 50 MB log relayed into Paperclip's run log: time from the Job's end to the run's end
  (the relay catching up), whole-run time, throughput, and that every line arrived in order.

    PAPERCLIP_GO_BINARIES=... PAPERCLIP_SERVER_DIR=... python -m tests.paperclip.adapter_bench
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from tests.controlplane.cluster import running
from tests.k8s.harness import finish
from tests.paperclip.server import Runner, install_dir, output_lines
from tests.paperclip.test_chain import NAMESPACE, Chain, chain_running, wait_first_line

ROUNDS = 5
BIG_MB = 50


def one_run(chain: Chain, lines: list[str]) -> tuple[float, float]:
    chain.log(lines)
    agent = chain.agent()
    woken = time.monotonic()
    run = chain.api.wakeup(agent)["id"]
    first = wait_first_line(chain.api, run, lines[0])
    pod = chain.pod_of(run)
    done = time.monotonic()
    finish(chain.plane, NAMESPACE, pod.metadata.name)
    result = chain.api.wait_run(run)
    assert result["status"] == "succeeded", result
    return first - woken, time.monotonic() - done


def big_run(chain: Chain) -> None:
    line = "x" * 99  # 100 bytes with its newline
    count = BIG_MB * 1024 * 1024 // 100
    lines = [f"{i:08d} {line[:90]}" for i in range(count)]
    size = sum(len(text) + 1 for text in lines)
    chain.log(lines)
    agent = chain.agent()
    woken = time.monotonic()
    run = chain.api.wakeup(agent)["id"]
    pod = chain.pod_of(run)
    finish(chain.plane, NAMESPACE, pod.metadata.name)
    ended = time.monotonic()
    result = chain.api.wait_run(run, timeout=1800)
    finished = time.monotonic()
    assert result["status"] == "succeeded", result
    got = output_lines(chain.api.log_text(run, "stdout"))
    whole = got == lines
    total = finished - woken
    print(
        f"{size / 1e6:.1f} MB log ({count} lines): run {total:.1f} s from wakeup "
        f"({size / 1e6 / total:.1f} MB/s), {finished - ended:.1f} s from the Job's end to the "
        f"run's end; every line in order in Paperclip's log: {whole}"
    )
    assert whole, f"{len(got)} of {count} lines"


def main() -> None:
    runner = Runner.create(install_dir())
    try:
        with (
            tempfile.TemporaryDirectory(prefix="adapter-bench-") as work,
            running(Path(work) / "k8s") as plane,
            chain_running(plane, runner, Path(work)) as chain,
        ):
            firsts, finishes = [], []
            for _ in range(ROUNDS):
                first, finished = one_run(chain, ["hello", "world"])
                firsts.append(first)
                finishes.append(finished)
            print(
                f"wakeup -> first log line in Paperclip: median {statistics.median(firsts):.2f} s "
                f"(min {min(firsts):.2f}, max {max(firsts):.2f}; {ROUNDS} runs)"
            )
            print(
                f"Job done -> run finished in Paperclip: median "
                f"{statistics.median(finishes):.2f} s (min {min(finishes):.2f}, "
                f"max {max(finishes):.2f})"
            )
            big_run(chain)
    finally:
        runner.cleanup()


if __name__ == "__main__":
    main()
