"""An in-memory Hugging Face Hub behind an `httpx2.MockTransport`: the HTTP boundary of huggingface_hub.

`FakeHub.install()` plugs the transport into huggingface_hub through its supported seam,
`huggingface_hub.set_client_factory`, so every request the library makes (all of them go through
its shared client) reaches `FakeHub.handle` and none reaches the network. The handler emulates the
endpoints an upload uses, as the Hub documents them and huggingface_hub calls them:

- `POST /api/repos/create`                        create a repository (409 when it exists)
- `POST /api/validate-yaml`                       the dataset card's YAML check
- `POST /api/{type}s/{repo}/preupload/{rev}`      upload mode per file (+ the remote oid if present)
- `POST /{type}s/{repo}.git/info/lfs/objects/batch`, `PUT` upload href, `POST` verify href  (git-LFS)
- `POST /api/{type}s/{repo}/commit/{rev}`         the NDJSON commit: inline base64 files, LFS pointers
- `GET  /api/{type}s/{repo}/revision/{rev}`       repository info (asked when nothing changed)

Files the server asks to receive as "lfs" are only those matching `lfs_suffixes`; huggingface_hub
sends those through Xet (a Rust client with its own HTTP stack, out of reach of this transport)
when hf_xet is installed, so tests that use `lfs_suffixes` disable Xet first (the legacy LFS path).
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from dataclasses import dataclass, field
from typing import Any

import httpx2
import yaml

ENDPOINT = "https://huggingface.co"


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class Repo:
    repo_type: str
    visibility: str | None
    files: dict[str, bytes] = field(default_factory=dict)
    lfs_paths: set[str] = field(default_factory=set)
    commits: list[dict[str, Any]] = field(default_factory=list)


class FakeHub:
    def __init__(self, *, lfs_suffixes: tuple[str, ...] = (), fail: dict[str, int] | None = None) -> None:
        self.lfs_suffixes = lfs_suffixes
        self.fail = dict(fail or {})  # route name -> status code to answer with
        self.repos: dict[str, Repo] = {}
        self.lfs_objects: dict[str, bytes] = {}
        self.requests: list[tuple[str, str]] = []
        self.auth: set[str | None] = set()
        self._lock = threading.Lock()

    # -- plumbing ----------------------------------------------------------------------------

    def client(self) -> httpx2.Client:
        return httpx2.Client(transport=httpx2.MockTransport(self.handle), follow_redirects=True, timeout=None)

    def install(self) -> None:
        import huggingface_hub

        huggingface_hub.set_client_factory(self.client)

    @staticmethod
    def uninstall() -> None:
        import huggingface_hub
        from huggingface_hub.utils._http import default_client_factory

        huggingface_hub.set_client_factory(default_client_factory)

    def handle(self, request: httpx2.Request) -> httpx2.Response:
        with self._lock:
            self.requests.append((request.method, request.url.path))
            self.auth.add(request.headers.get("authorization"))
            try:
                return self._route(request)
            except Exception as exc:  # a bug in the fake: make it visible as a server error
                return httpx2.Response(500, json={"error": f"fake hub: {type(exc).__name__}: {exc}"})

    def _route(self, request: httpx2.Request) -> httpx2.Response:
        method, path = request.method, request.url.path
        parts = path.strip("/").split("/")
        if method == "POST" and path == "/api/repos/create":
            return self._create(json.loads(request.content))
        if method == "POST" and path == "/api/validate-yaml":
            return self._validate_yaml(json.loads(request.content))
        if parts[0] == "api" and len(parts) >= 6 and parts[1] in ("datasets", "models", "spaces"):
            repo_id, action, rev = f"{parts[2]}/{parts[3]}", parts[4], "/".join(parts[5:])
            repo = self.repos.get(repo_id)
            if repo is None:
                return httpx2.Response(
                    404, headers={"X-Error-Code": "RepoNotFound"}, json={"error": "Repository not found"}
                )
            if method == "POST" and action == "preupload":
                return self._preupload(repo, json.loads(request.content))
            if method == "POST" and action == "commit":
                return self._commit(repo_id, repo, rev, request.content)
            if method == "GET" and action == "revision":
                return self._info(repo_id, repo)
        if method == "POST" and path.endswith(".git/info/lfs/objects/batch"):
            return self._lfs_batch(json.loads(request.content))
        if method == "PUT" and parts[0] == "__lfs__":
            data = request.read()
            if hashlib.sha256(data).hexdigest() != parts[1]:
                return httpx2.Response(400, json={"error": "sha256 mismatch"})
            self.lfs_objects[parts[1]] = data
            return httpx2.Response(200)
        if method == "POST" and parts[0] == "__verify__":
            body = json.loads(request.content)
            ok = body["oid"] in self.lfs_objects and len(self.lfs_objects[body["oid"]]) == body["size"]
            return httpx2.Response(200 if ok else 404, json={})
        return httpx2.Response(404, json={"error": f"fake hub: no route for {method} {path}"})

    # -- endpoints ---------------------------------------------------------------------------

    def _create(self, body: dict[str, Any]) -> httpx2.Response:
        if "create" in self.fail:
            return httpx2.Response(self.fail["create"], json={"error": "Invalid credentials in Authorization header"})
        repo_id = f"{body['organization']}/{body['name']}"
        repo_type = body.get("type") or "model"
        url = f"{ENDPOINT}/{repo_type}s/{repo_id}" if repo_type != "model" else f"{ENDPOINT}/{repo_id}"
        if repo_id in self.repos:
            return httpx2.Response(409, json={"error": "You already created this repo", "url": url})
        self.repos[repo_id] = Repo(repo_type, body.get("visibility"))
        return httpx2.Response(200, json={"url": url, "name": repo_id})

    def _validate_yaml(self, body: dict[str, Any]) -> httpx2.Response:
        text = body["content"]
        if not text.startswith("---\n"):
            return httpx2.Response(200, json={"errors": [], "warnings": [{"message": "empty metadata"}]})
        try:
            header = yaml.safe_load(text.split("---\n", 2)[1])
        except yaml.YAMLError as exc:
            return httpx2.Response(400, json={"errors": [{"message": str(exc)}]})
        if not isinstance(header, dict) or not header.get("configs"):
            return httpx2.Response(400, json={"errors": [{"message": "no configs in the card's YAML"}]})
        return httpx2.Response(200, json={"errors": [], "warnings": []})

    def _preupload(self, repo: Repo, body: dict[str, Any]) -> httpx2.Response:
        files = []
        for entry in body["files"]:
            path = entry["path"]
            mode = "lfs" if path.endswith(self.lfs_suffixes) and self.lfs_suffixes else "regular"
            oid = None
            if path in repo.files:
                data = repo.files[path]
                oid = hashlib.sha256(data).hexdigest() if mode == "lfs" else git_blob_sha1(data)
            files.append({"path": path, "uploadMode": mode, "shouldIgnore": False, "oid": oid})
        return httpx2.Response(200, json={"files": files, "commitOid": "0" * 40})

    def _lfs_batch(self, body: dict[str, Any]) -> httpx2.Response:
        objects = []
        for obj in body["objects"]:
            entry: dict[str, Any] = {"oid": obj["oid"], "size": obj["size"]}
            if obj["oid"] not in self.lfs_objects:
                entry["actions"] = {
                    "upload": {"href": f"{ENDPOINT}/__lfs__/{obj['oid']}"},
                    "verify": {"href": f"{ENDPOINT}/__verify__"},
                }
            objects.append(entry)
        return httpx2.Response(200, json={"transfer": "basic", "objects": objects})

    def _commit(self, repo_id: str, repo: Repo, rev: str, content: bytes) -> httpx2.Response:
        lines = [json.loads(line) for line in content.decode().splitlines() if line.strip()]
        header = lines[0]
        if header["key"] != "header":
            return httpx2.Response(400, json={"error": "first line must be the header"})
        changed: dict[str, bytes] = {}
        lfs: set[str] = set()
        for line in lines[1:]:
            value = line["value"]
            if line["key"] == "file":
                changed[value["path"]] = base64.b64decode(value["content"])
            elif line["key"] == "lfsFile":
                data = self.lfs_objects.get(value["oid"])
                if data is None or len(data) != value["size"]:
                    return httpx2.Response(422, json={"error": f"LFS object of {value['path']} was never uploaded"})
                changed[value["path"]] = data
                lfs.add(value["path"])
            else:
                return httpx2.Response(400, json={"error": f"unexpected commit line {line['key']}"})
        repo.files.update(changed)
        repo.lfs_paths |= lfs
        oid = hashlib.sha1(f"{repo_id}{len(repo.commits)}".encode()).hexdigest()
        repo.commits.append({"oid": oid, "revision": rev, "summary": header["value"]["summary"], "files": changed})
        return httpx2.Response(
            200, json={"commitUrl": f"{ENDPOINT}/datasets/{repo_id}/commit/{oid}", "commitOid": oid, "success": True}
        )

    def _info(self, repo_id: str, repo: Repo) -> httpx2.Response:
        sha = repo.commits[-1]["oid"] if repo.commits else "0" * 40
        return httpx2.Response(
            200,
            json={
                "_id": "0" * 24,
                "id": repo_id,
                "sha": sha,
                "private": repo.visibility == "private",
                "siblings": [{"rfilename": p} for p in sorted(repo.files)],
            },
        )
