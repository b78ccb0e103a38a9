"""Print `go mod edit` replace arguments for module versions the Go module proxy refuses.

Some proxies (mirrors with an allow-list) answer 403 for a module version's zip while serving
neighbouring versions. Run in a wrapper module directory; for every module version that
`go mod download -json all` cannot fetch, the nearest lower patch release of the same
major.minor (at most five back) whose zip the proxy serves is chosen, and a version-specific
replace is printed (`-replace=path@want=path@got`, one per line). A refused version without
such a substitute is reported on stderr and left alone (it may be needed only by tests of a
dependency).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request

SEMVER = re.compile(r"^v(\d+)\.(\d+)\.(\d+)$")
MAX_PROBES = 5


def proxy() -> str:
    value = os.environ.get("GOPROXY", "").strip() or "https://proxy.golang.org"
    return value.replace("|", ",").split(",")[0].strip().rstrip("/")


def escape(path: str) -> str:
    return "".join(f"!{c.lower()}" if c.isupper() else c for c in path)


def zip_available(path: str, version: str) -> bool:
    url = f"{proxy()}/{escape(path)}/@v/{version}.zip"
    request = urllib.request.Request(url, headers={"Range": "bytes=0-15"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status) in (200, 206)
    except (urllib.error.URLError, OSError):
        return False


def substitute(path: str, want: str) -> str | None:
    """The nearest lower patch release (at most MAX_PROBES back) whose zip the proxy serves.
    (The proxy's @v/list and @latest may be unavailable, so versions are probed directly.)"""
    wanted = SEMVER.match(want)
    if not wanted:
        return None
    major, minor, patch = (int(x) for x in wanted.groups())
    for lower in range(patch - 1, max(patch - 1 - MAX_PROBES, -1), -1):
        version = f"v{major}.{minor}.{lower}"
        if zip_available(path, version):
            return version
    return None


def refused() -> list[tuple[str, str]]:
    result = subprocess.run(
        ["go", "mod", "download", "-json", "all"], capture_output=True, text=True, check=False
    )
    decoder = json.JSONDecoder()
    text, index, bad = result.stdout, 0, []
    while index < len(text):
        while index < len(text) and text[index].isspace():
            index += 1
        if index >= len(text):
            break
        item, index = decoder.raw_decode(text, index)
        if item.get("Error") and item.get("Version"):
            bad.append((str(item["Path"]), str(item["Version"])))
    return bad


def main() -> int:
    for path, version in refused():
        alternative = substitute(path, version)
        if alternative is None:
            print(f"[flux] proxy refuses {path}@{version}; no substitute", file=sys.stderr)
            continue
        print(f"[flux] proxy refuses {path}@{version}; using {alternative}", file=sys.stderr)
        print(f"-replace={path}@{version}={path}@{alternative}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
