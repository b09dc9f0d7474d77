"""upload/download against act's artifact server with the v3 REST protocol (stand-in for the real actions).

act copies every ``--local-repository`` folder on its own, so this file must sit inside each
stand-in's folder: tests/github/act_harness.py builds those folders from this one file and the
``<name>.yml`` beside it (see ``standin_folders``).
"""

from __future__ import annotations

import fnmatch
import glob
import json
import os
import sys
import urllib.parse
import urllib.request
from pathlib import Path

BASE = (os.environ["ACTIONS_RUNTIME_URL"] + "_apis/pipelines/workflows/" + os.environ["GITHUB_RUN_ID"]
        + "/artifacts?api-version=6.0-preview")
AUTH = {"Authorization": "Bearer " + os.environ["ACTIONS_RUNTIME_TOKEN"]}


def call(url: str, method: str = "GET", data: bytes | None = None, headers: dict[str, str] | None = None) -> bytes:
    req = urllib.request.Request(url, data=data, method=method, headers={**AUTH, **(headers or {})})
    with urllib.request.urlopen(req) as resp:
        return resp.read()


def upload() -> None:
    name = os.environ["NAME"]
    files: list[tuple[Path, str]] = []
    for pattern in [p.strip() for p in os.environ["PATHS"].splitlines() if p.strip()]:
        for match in glob.glob(pattern, recursive=True):
            m = Path(match)
            if m.is_dir():
                files += [(f, str(f.relative_to(m))) for f in sorted(m.rglob("*")) if f.is_file()]
            elif m.is_file():
                files.append((m, m.name))
    if not files:
        print(f"::warning::no files found for artifact {name}")
        return
    created = json.loads(call(BASE, "POST", json.dumps({"Type": "actions_storage", "Name": name}).encode(),
                              {"Content-Type": "application/json"}))
    total = 0
    for path, rel in files:
        data = path.read_bytes()
        total += len(data)
        url = created["fileContainerResourceUrl"] + "?itemPath=" + urllib.parse.quote(f"{name}/{rel}")
        call(url, "PUT", data, {"Content-Type": "application/octet-stream",
                                "Content-Range": f"bytes 0-{max(len(data) - 1, 0)}/{len(data)}"})
    call(BASE + "&artifactName=" + urllib.parse.quote(name), "PATCH", json.dumps({"Size": total}).encode(),
         {"Content-Type": "application/json"})
    print(f"uploaded {len(files)} file(s) as {name}")


def download() -> None:
    name, pattern, dest = os.environ.get("NAME", ""), os.environ.get("PATTERN", ""), Path(os.environ["DEST"])
    listing = json.loads(call(BASE)).get("value", [])
    for artifact in listing:
        if name and artifact["name"] != name:
            continue
        if pattern and not fnmatch.fnmatch(artifact["name"], pattern):
            continue
        items = json.loads(call(artifact["fileContainerResourceUrl"] + "?itemPath="
                                + urllib.parse.quote(artifact["name"]))).get("value", [])
        for item in items:
            if item.get("itemType") != "file":
                continue
            rel = item["path"].split("/", 1)[1]
            target = dest / rel if name else dest / artifact["name"] / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(call(item["contentLocation"]))
        print(f"downloaded {artifact['name']}")


if __name__ == "__main__":
    {"upload": upload, "download": download}[sys.argv[1]]()
