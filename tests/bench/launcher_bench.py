"""Launcher benchmark on the real control plane (run: `make bench`).

1. Job submit latency: POST /v1/runs until the Job (and its per-run Secret) exist.
2. Log relay throughput: a 50 MB log through the launcher's NDJSON stream, beside a raw
   HTTP read of the same follow stream from the API server (the limit of the path: the
   launcher reads exactly that stream) and `kubectl logs -f` of the same pod, in the same run.
3. 200 concurrent runs through one launcher process: wall time, the launcher's peak RSS,
   lost and repeated lines (both must be 0; RSS must stay under 150 MB).
"""

from __future__ import annotations

import http.client
import json
import os
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tests.controlplane.cluster import ControlPlane, running  # noqa: E402
from tests.k8s.harness import LauncherProcess, finish, job_pod, prepare_namespace  # noqa: E402

LOG_MB = 50
CONCURRENT = 200
LINES_PER_RUN = 2000
TARGET_RATIO = 0.8
TARGET_RSS_MB = 150


def cri_file(path: Path, lines: int, width: int) -> int:
    """A CRI log of ``lines`` lines of ``width`` bytes of text; returns its size."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    body = "x" * max(0, width - 12)
    with path.open("w") as handle:
        for i in range(lines):
            stamp = (start + timedelta(microseconds=i)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            handle.write(f"{stamp} stdout F {i:010d} {body}\n")
    return path.stat().st_size


def rss_peak_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def lines_of(response: Any, size: int = 1 << 16) -> Iterator[bytes]:
    """The lines of a response body, read in blocks (``readline`` on a chunked body is slow
    enough in Python to measure the reader instead of the stream)."""
    rest = b""
    while block := response.read1(size):
        *complete, rest = (rest + block).split(b"\n")
        yield from complete
    if rest:
        yield rest


def count_stream(lp: LauncherProcess, run: str, expected: int) -> tuple[float, int, int, str]:
    """Seconds until ``expected`` line records arrived, the lines seen, repeats, and the
    errorCode of a result that ended the stream early ("" when none did)."""
    request = urllib.request.Request(
        f"{lp.url}/v1/runs/{run}/log", headers={"Authorization": f"Bearer {lp.token}"}
    )
    begin = time.perf_counter()
    seen = 0
    ids: set[bytes] = set()
    repeats = 0
    with urllib.request.urlopen(request, timeout=600) as response:
        for raw in lines_of(response):
            if raw.startswith(b'{"type":"line"'):
                seen += 1
                key = raw[raw.index(b'"text":"') + 8 :][:10]
                repeats += key in ids
                ids.add(key)
                if seen == expected:
                    return time.perf_counter() - begin, seen, repeats, ""
            else:
                code = json.loads(raw).get("errorCode") or "result_ok"
                return time.perf_counter() - begin, seen, repeats, str(code)
    return time.perf_counter() - begin, seen, repeats, "stream_ended"


def raw_follow(plane: ControlPlane, ns: str, pod: str, expected: int) -> float:
    """Seconds to read ``expected`` lines of the pod's follow stream straight from the API
    server (the request the launcher makes, with its ServiceAccount token)."""
    token = plane.mint_token(ns, "lt-launcher")
    host, _, port = plane.server.removeprefix("https://").partition(":")
    context = ssl.create_default_context(cafile=str(plane.ca_file))
    connection = http.client.HTTPSConnection(host, int(port), context=context, timeout=600)
    begin = time.perf_counter()
    connection.request(
        "GET",
        f"/api/v1/namespaces/{ns}/pods/{pod}/log?container=agent&follow=true&timestamps=true",
        headers={"Authorization": f"Bearer {token}"},
    )
    response = connection.getresponse()
    assert response.status == 200, response.status
    for seen, _ in enumerate(lines_of(response), start=1):
        if seen == expected:
            break
    elapsed = time.perf_counter() - begin
    connection.close()
    return elapsed


def kubectl_follow(kubectl: str, kubeconfig: Path, ns: str, pod: str, expected: int) -> float:
    begin = time.perf_counter()
    process = subprocess.Popen(
        [kubectl, "--kubeconfig", str(kubeconfig), "-n", ns, "logs", "-f", pod, "-c", "agent"],
        stdout=subprocess.PIPE,
    )
    assert process.stdout is not None
    for seen, _ in enumerate(process.stdout, start=1):
        if seen == expected:
            break
    elapsed = time.perf_counter() - begin
    process.kill()
    process.wait()
    return elapsed


def main() -> int:
    tools = (
        subprocess.run(
            ["bash", str(REPO / "tests/tools/kube-tools.sh")],
            check=True,
            capture_output=True,
            text=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    kubectl = str(Path(tools) / "kubectl")
    with tempfile.TemporaryDirectory() as tmp, running() as plane:
        work = Path(tmp)
        print(f"control plane ready in {plane.timings['start_s']:.1f}s", flush=True)

        # 1. submit latency
        prepare_namespace(plane, "logs-12")
        (work / "a").mkdir()
        lp = LauncherProcess(plane, "logs-12", work / "a").start()
        latencies = []
        for i in range(20):
            begin = time.perf_counter()
            status, _ = lp.start_run(f"lat-{i}", agent=f"lat-agent-{i}")
            latencies.append((time.perf_counter() - begin) * 1000)
            assert status == 201
        for i in range(20):
            lp.call("DELETE", f"/v1/runs/lat-{i}")
        lp.stop()

        # 2. relay throughput, 50 MB
        ns = "logs-13"
        prepare_namespace(plane, ns)
        width = 100
        lines = LOG_MB * 1024 * 1024 // (width + 40)
        size = cri_file(plane.log_file(ns), lines, width)
        (work / "b").mkdir()
        lp = LauncherProcess(plane, ns, work / "b").start()
        lp.start_run("big")
        pod = job_pod(plane, ns, "big").metadata.name
        # alternate the readers and keep each one's best pass, so none gains from a page
        # cache another warmed
        kubectl_runs, relay_runs, raw_runs = [], [], []
        for _ in range(2):
            raw_runs.append(raw_follow(plane, ns, pod, lines))
            kubectl_runs.append(kubectl_follow(kubectl, plane.kubeconfig, ns, pod, lines))
            relay_s, relayed, repeated, _ = count_stream(lp, "big", lines)
            assert relayed == lines and repeated == 0, (relayed, repeated)
            relay_runs.append(relay_s)
        kubectl_s, relay_s, raw_s = min(kubectl_runs), min(relay_runs), min(raw_runs)
        lp.call("DELETE", "/v1/runs/big")
        lp.stop()

        # 3. concurrent runs
        ns = "logs-14"
        prepare_namespace(plane, ns)
        cri_file(plane.log_file(ns), LINES_PER_RUN, 60)
        (work / "c").mkdir()
        lp = LauncherProcess(plane, ns, work / "c", pending_timeout=300).start()
        assert lp.process is not None
        begin = time.perf_counter()
        for i in range(CONCURRENT):
            assert lp.start_run(f"c-{i}", agent=f"c-agent-{i}")[0] == 201
        results: dict[int, tuple[int, int]] = {}
        endings: Counter[str] = Counter()

        def consume(i: int) -> None:
            _, seen, repeats, ending = count_stream(lp, f"c-{i}", LINES_PER_RUN + 1)
            results[i] = (seen, repeats)
            endings[ending or "all_lines"] += 1

        threads = [threading.Thread(target=consume, args=(i,)) for i in range(CONCURRENT)]
        for thread in threads:
            thread.start()
        pods = [job_pod(plane, ns, f"c-{i}", 120).metadata.name for i in range(CONCURRENT)]
        time.sleep(2)
        for pod in pods:
            finish(plane, ns, pod)
        for thread in threads:
            thread.join(300)
        wall = time.perf_counter() - begin
        rss = rss_peak_mb(lp.process.pid)
        lost = sum(LINES_PER_RUN - seen for seen, _ in results.values()) + LINES_PER_RUN * (
            CONCURRENT - len(results)
        )
        repeats = sum(r for _, r in results.values())
        lp.stop()

    ratio = kubectl_s / relay_s
    raw_ratio = raw_s / relay_s
    print(f"\n{'measure':<46} {'value':>12}")
    print("-" * 59)
    print(f"{'Job submit latency, median (ms)':<46} {statistics.median(latencies):>12.1f}")
    print(
        f"{'Job submit latency, p95 of 20 (ms)':<46} "
        f"{sorted(latencies)[int(0.95 * len(latencies)) - 1]:>12.1f}"
    )
    print(f"{'relay: log size (MB), lines':<46} {size / 1e6:>7.1f} {lines:>6}")
    print(
        f"{'relay: kubectl logs -f, best of 2 (s, MB/s)':<46} {kubectl_s:>6.2f} "
        f"{size / 1e6 / kubectl_s:>5.1f}"
    )
    print(
        f"{'relay: raw HTTP follow from the API, best of 2 (s, MB/s)':<46} {raw_s:>6.2f} "
        f"{size / 1e6 / raw_s:>5.1f}"
    )
    print(
        f"{'relay: launcher stream, best of 2 (s, MB/s)':<46} {relay_s:>6.2f} "
        f"{size / 1e6 / relay_s:>5.1f}"
    )
    print(f"{'relay throughput, launcher / raw HTTP (the limit)':<46} {raw_ratio:>11.2f}x")
    print(
        f"{'relay throughput, launcher / kubectl':<46} {ratio:>11.2f}x  (target >= {TARGET_RATIO})"
    )
    print(f"{f'{CONCURRENT} concurrent runs: wall (s)':<46} {wall:>12.2f}")
    print(
        f"{f'{CONCURRENT} concurrent runs: launcher peak RSS (MB)':<46} {rss:>12.1f}  "
        f"(target < {TARGET_RSS_MB})"
    )
    print(f"{f'{CONCURRENT} concurrent runs: lost / repeated lines':<46} {lost:>6} / {repeats:<5}")
    print(f"{f'{CONCURRENT} concurrent runs: how streams ended':<46} {dict(endings)}")
    return 0 if lost == 0 and repeats == 0 and rss < TARGET_RSS_MB else 1


if __name__ == "__main__":
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    sys.exit(main())
