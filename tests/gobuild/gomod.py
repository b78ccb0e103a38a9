"""go.mod helpers of tests/gobuild/build.sh (stdlib only; run with any python3).

    python3 gomod.py merge GOMOD...   `go mod edit` arguments that give the wrapper module every
                                      requirement of the given go.mod files (the highest version
                                      of each module) and their non-local replace directives
                                      (a replaced module keeps the highest replacement)
    python3 gomod.py fallback         `go mod edit` arguments replacing each module version the
                                      Go proxy refuses by the nearest lower patch release it
                                      serves (run in the wrapper module's directory)

Some proxies (mirrors with an allow-list) answer 403 for a module version's zip while serving
neighbouring versions. For every module version that `go mod download -json all` cannot fetch,
the nearest lower patch release of the same major.minor (at most five back) whose zip the proxy
serves is chosen (`-replace=path@want=path@got`). A refused version without such a substitute
is reported on stderr and left alone (it may be needed only by tests of a dependency).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request

SEMVER = re.compile(r"^v(\d+)\.(\d+)\.(\d+)(.*)$")
MAX_PROBES = 5


def version_key(version: str) -> tuple[int, int, int, int, str]:
    """Orders module versions as Go does for the cases go.mod files hold: a release sorts
    after its pre-releases and pseudo-versions (v1.0.1-0.2023… < v1.0.1)."""
    match = SEMVER.match(version)
    if not match:
        return (0, 0, 0, 0, version)
    major, minor, patch, rest = match.groups()
    return (int(major), int(minor), int(patch), 0 if rest else 1, rest)


def read_gomod(path: str) -> dict[str, object]:
    result = subprocess.run(
        ["go", "mod", "edit", "-json", path], capture_output=True, text=True, check=True
    )
    parsed: dict[str, object] = json.loads(result.stdout)
    return parsed


def merge(paths: list[str]) -> list[str]:
    requires: dict[str, str] = {}
    replaces: dict[str, tuple[str, str]] = {}
    for path in paths:
        gomod = read_gomod(path)
        for item in gomod.get("Require") or []:  # type: ignore[attr-defined]
            module, version = item["Path"], item["Version"]
            if module not in requires or version_key(version) > version_key(requires[module]):
                requires[module] = version
        for item in gomod.get("Replace") or []:  # type: ignore[attr-defined]
            new = item["New"]
            if new["Path"].startswith(".") or not new.get("Version"):
                continue  # a local directory of the module's own repository
            old = item["Old"]["Path"] + (
                "@" + item["Old"]["Version"] if item["Old"].get("Version") else ""
            )
            chosen = replaces.get(old)
            if chosen is None or version_key(new["Version"]) > version_key(chosen[1]):
                replaces[old] = (new["Path"], new["Version"])
    args = [f"-require={module}@{version}" for module, version in sorted(requires.items())]
    args += [f"-replace={old}={new}@{version}" for old, (new, version) in sorted(replaces.items())]
    return args


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
    if not wanted or wanted.group(4):
        return None
    major, minor, patch = (int(x) for x in wanted.groups()[:3])
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


def fallback() -> list[str]:
    args = []
    for path, version in refused():
        alternative = substitute(path, version)
        if alternative is None:
            print(f"[gobuild] proxy refuses {path}@{version}; no substitute", file=sys.stderr)
            continue
        print(f"[gobuild] proxy refuses {path}@{version}; using {alternative}", file=sys.stderr)
        args.append(f"-replace={path}@{version}={path}@{alternative}")
    return args


def main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[0] == "merge":
        print("\n".join(merge(argv[1:])))
        return 0
    if argv == ["fallback"]:
        args = fallback()
        if args:
            print("\n".join(args))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
