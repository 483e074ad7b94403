#!/usr/bin/python3
"""hub_server.py - a stand-in for the Hugging Face Hub on loopback, for tests/test_pull.sh.

Serves ROOT/ORG/REPO/... as model repositories through the same endpoints
penny uses on the real Hub:

  GET  /api/models/ORG/REPO/tree/main?recursive=true   JSON listing with lfs.oid (sha256),
                                                       paginated with a Link header
  GET  /api/models/ORG/REPO                            {"id", "siblings": [{"rfilename"}]}
  GET|HEAD /ORG/REPO/resolve/main/PATH                 302 to /cdn/... with X-Linked-Etag,
                                                       X-Linked-Size, ETag
  GET|HEAD /cdn/ORG/REPO/PATH                          the bytes, with Range (206/416)

Faults are switched on by ROOT/control.json, re-read on every request:
  {"drop": {"ORG/REPO/PATH": N}}   the first N downloads send half the bytes, then hang up
  {"corrupt": ["ORG/REPO/PATH"]}   one byte of the content differs from the listed hash
  {"status": {"ORG/REPO": 500}}    the Hub endpoints answer with that status
  {"token": "T"}                   the Hub endpoints require "Authorization: Bearer T"
  {"extra": {"ORG/REPO": [{"path", "size", "sha256"}]}}  extra listing entries (no content)
  {"page_size": N}                 listing pages of N entries
  {"cdn_host": "localhost"}        resolve redirects to that host name (a "CDN" elsewhere)
Every request is appended to the log as: METHOD<TAB>PATH<TAB>RANGE<TAB>AUTH<TAB>STATUS,
where AUTH is none, ok or bad (the token itself is never written).

usage: hub_server.py ROOT LOG PORT_FILE
"""
import hashlib
import json
import os
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROOT, LOG, PORT_FILE = sys.argv[1:4]
lock = threading.Lock()
drops_done = {}
hashes = {}


def control():
    try:
        with open(os.path.join(ROOT, "control.json")) as f:
            return json.load(f)
    except FileNotFoundError:
        return {}


def sha256_of(path):
    st = os.stat(path)
    key = (path, st.st_mtime_ns, st.st_size)
    if key not in hashes:
        with open(path, "rb") as f:
            hashes[key] = hashlib.sha256(f.read()).hexdigest()
    return hashes[key]


def repo_dir(org, repo):
    d = os.path.join(ROOT, org, repo)
    return d if org and repo and ".." not in (org, repo) and os.path.isdir(d) else None


def listing(org, repo, ctl):
    d = repo_dir(org, repo)
    out = []
    for top, dirs, files in os.walk(d):
        dirs.sort()
        rel = os.path.relpath(top, d)
        if rel != ".":
            out.append({"type": "directory", "path": rel, "size": 0, "oid": "0" * 40})
        for name in sorted(files):
            p = os.path.join(top, name)
            rp = os.path.relpath(p, d)
            e = {"type": "file", "path": rp, "size": os.path.getsize(p), "oid": "1" * 40}
            if name.endswith(".gguf"):
                e["lfs"] = {"oid": sha256_of(p), "size": e["size"], "pointerSize": 134}
            out.append(e)
    for x in ctl.get("extra", {}).get(org + "/" + repo, []):
        out.append({"type": "file", "path": x["path"], "size": x["size"], "oid": "2" * 40,
                    "lfs": {"oid": x["sha256"], "size": x["size"], "pointerSize": 134}})
    return out


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def record(self, status):
        rng = self.headers.get("Range", "-")
        with lock, open(LOG, "a") as f:
            f.write("%s\t%s\t%s\t%s\t%d\n" % (self.command, self.path, rng, self.auth, status))

    def reply(self, status, body=b"", headers=()):
        self.record(status)
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def error(self, status, code, message):
        body = json.dumps({"error": message}).encode()
        self.reply(status, body, [("Content-Type", "application/json"), ("X-Error-Code", code),
                                  ("X-Error-Message", message)])

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        ctl = control()
        want = ctl.get("token")
        got = self.headers.get("Authorization")
        self.auth = "none" if got is None else ("ok" if want and got == "Bearer " + want else "bad")
        url = urllib.parse.urlsplit(self.path)
        parts = [urllib.parse.unquote(p) for p in url.path.split("/")[1:]]
        if parts[0] == "cdn" and len(parts) >= 4:
            return self.cdn(parts[1], parts[2], "/".join(parts[3:]), ctl)
        if want and self.auth != "ok":
            return self.error(401, "Unauthorized", "Invalid credentials in Authorization header")
        if parts[0] == "api" and len(parts) >= 4 and parts[1] == "models":
            return self.api(parts[2], parts[3], parts[4:], url.query, ctl)
        if len(parts) >= 5 and parts[2] == "resolve" and parts[3] == "main":
            return self.resolve(parts[0], parts[1], "/".join(parts[4:]), ctl)
        self.error(404, "NotFound", "no such endpoint")

    def fault(self, org, repo, ctl):
        status = ctl.get("status", {}).get(org + "/" + repo)
        if status:
            self.error(status, "ServerError", "simulated failure")
            return True
        if not repo_dir(org, repo):
            self.error(404, "RepoNotFound", "Repository not found")
            return True
        return False

    def api(self, org, repo, rest, query, ctl):
        if self.fault(org, repo, ctl):
            return
        files = listing(org, repo, ctl)
        if not rest:
            body = {"id": org + "/" + repo,
                    "siblings": [{"rfilename": e["path"]} for e in files if e["type"] == "file"]}
            return self.reply(200, json.dumps(body).encode(), [("Content-Type", "application/json")])
        q = urllib.parse.parse_qs(query)
        start = int(q.get("cursor", ["0"])[0])
        size = ctl.get("page_size") or len(files) or 1
        headers = [("Content-Type", "application/json")]
        if start + size < len(files):
            nxt = "http://%s/api/models/%s/%s/tree/main?recursive=true&cursor=%d" % (
                self.headers.get("Host"), org, repo, start + size)
            headers.append(("Link", '<%s>; rel="next"' % nxt))
        self.reply(200, json.dumps(files[start:start + size]).encode(), headers)

    def resolve(self, org, repo, path, ctl):
        if self.fault(org, repo, ctl):
            return
        p = os.path.join(repo_dir(org, repo), path)
        if ".." in path.split("/") or not os.path.isfile(p):
            return self.error(404, "EntryNotFound", "Entry not found")
        sha = sha256_of(p)
        loc = "/cdn/%s/%s/%s" % (org, repo, urllib.parse.quote(path))
        if ctl.get("cdn_host"):  # another host name for the same server, as a real CDN would be
            loc = "http://%s:%d%s" % (ctl["cdn_host"], self.server.server_address[1], loc)
        self.reply(302, b"", [("Location", loc), ("X-Linked-Etag", '"%s"' % sha),
                              ("X-Linked-Size", str(os.path.getsize(p))), ("ETag", '"%s"' % sha),
                              ("X-Repo-Commit", "0" * 40)])

    def cdn(self, org, repo, path, ctl):
        d = repo_dir(org, repo)
        p = os.path.join(d, path) if d else None
        if not p or ".." in path.split("/") or not os.path.isfile(p):
            return self.error(404, "NotFound", "no such object")
        with open(p, "rb") as f:
            data = bytearray(f.read())
        key = "%s/%s/%s" % (org, repo, path)
        if key in ctl.get("corrupt", []):
            data[len(data) // 2] ^= 0xFF
        start, status, headers = 0, 200, [("ETag", '"%s"' % sha256_of(p))]
        rng = self.headers.get("Range")
        if rng:
            start = int(rng.split("=")[1].split("-")[0])
            if start >= len(data):
                return self.reply(416, b"", [("Content-Range", "bytes */%d" % len(data))])
            status = 206
            headers.append(("Content-Range", "bytes %d-%d/%d" % (start, len(data) - 1, len(data))))
        body = bytes(data[start:])
        with lock:
            n = drops_done.get(key, 0)
            drop = self.command == "GET" and n < ctl.get("drop", {}).get(key, 0)
            if drop:
                drops_done[key] = n + 1
        if not drop:
            return self.reply(status, body, headers)
        self.record(status)
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[:len(body) // 2])
        self.wfile.flush()
        self.close_connection = True


def main():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    tmp = PORT_FILE + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(tmp, PORT_FILE)
    srv.serve_forever()


if __name__ == "__main__":
    main()
