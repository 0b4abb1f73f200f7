"""Downloading a release: verified, cached once, and never half-kept.

A tiny ml-1m-style zip is served from 127.0.0.1 by a thread; each test passes (or installs) a
manifest holding that zip's own MD5, as the real manifest holds the published ones.
"""

import hashlib
import io
import json
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bench.data import download, load_dataset
from bench.data.download import fetch_release, load_manifest
from bench.errors import BenchError

RATINGS = "1::1193::5::978300760\n1::661::3::978302109\n2::1193::4::978301968\n2::661::2::9\n"
MOVIES = "661::James and the Giant Peach (1996)::Animation|Children's\n1193::Cuckoo (1975)::Drama\n"


def make_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("ml-1m/ratings.dat", RATINGS)
        archive.writestr("ml-1m/movies.dat", MOVIES)
        archive.writestr("ml-1m/users.dat", "1::F::1::10::48067\n2::M::56::16::70072\n")
    return buffer.getvalue()


GOOD = make_zip()
CORRUPT = GOOD[:100] + bytes([GOOD[100] ^ 0xFF]) + GOOD[101:]  # one byte flipped
NOT_A_ZIP = b"<html>maintenance</html>"
GOOD_MD5 = hashlib.md5(GOOD).hexdigest()


class Handler(BaseHTTPRequestHandler):
    """/good/, /corrupt/, /truncated/, /html/ serve the zip so; anything else is a 404."""

    hits: dict[str, int] = {}

    def do_GET(self):  # noqa: N802 (http.server's name)
        Handler.hits[self.path] = Handler.hits.get(self.path, 0) + 1
        kind = self.path.split("/")[1]
        body = {"good": GOOD, "corrupt": CORRUPT, "truncated": GOOD, "html": NOT_A_ZIP}.get(kind)
        if body is None:
            self.send_error(404, "File not found")
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/zip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if kind == "truncated":  # the connection drops half-way
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(autouse=True)
def isolated(monkeypatch):
    Handler.hits.clear()
    for var in (download.CACHE_ENV, download.URL_ENV):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")


def manifest(server, md5=GOOD_MD5):
    return {
        "base_url": f"{server}/good/",
        "releases": {
            "ml-1m": {
                "file": "ml-1m.zip",
                "md5": md5,
                "layout": "dat",
                "ratings": {"low": 1, "high": 5, "step": 1},
            },
            "ml-latest": {"file": "ml-latest.zip", "md5": None, "layout": "csv"},
        },
    }


def looks_empty(cache) -> bool:
    """Nothing a later run could take for a download: no zip, no extracted folder."""
    return not cache.exists() or sorted(p.name for p in cache.rglob("*")) == []


def test_a_good_zip_is_downloaded_verified_and_extracted(server, tmp_path):
    folder = fetch_release("ml-1m", cache_dir=tmp_path, manifest=manifest(server))
    assert folder == tmp_path / "ml-1m"
    assert (folder / "ml-1m" / "ratings.dat").read_text() == RATINGS
    assert (tmp_path / "ml-1m.zip").read_bytes() == GOOD
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp left
    assert Handler.hits == {"/good/ml-1m.zip": 1}


def test_the_second_load_reuses_the_cache_without_the_server(server, tmp_path):
    first = fetch_release("ml-1m", cache_dir=tmp_path, manifest=manifest(server))
    unreachable = manifest("http://127.0.0.1:9")  # nothing listens on port 9
    second = fetch_release("ml-1m", cache_dir=tmp_path, manifest=unreachable)
    assert first == second
    assert Handler.hits == {"/good/ml-1m.zip": 1}


def test_load_dataset_downloads_once_then_loads_from_the_cache(server, tmp_path, monkeypatch):
    path = tmp_path / "MANIFEST.json"
    path.write_text(json.dumps(manifest(server)))
    monkeypatch.setattr(download, "MANIFEST_PATH", path)
    monkeypatch.setenv(download.CACHE_ENV, str(tmp_path / "cache"))
    first = load_dataset("ml-1m")
    second = load_dataset("ml-1m")
    assert (len(first), first.n_users, first.n_items) == (4, 2, 2)
    assert first.movies["title"].tolist() == ["James and the Giant Peach (1996)", "Cuckoo (1975)"]
    assert first.digest == second.digest
    assert Handler.hits == {"/good/ml-1m.zip": 1}
    assert (tmp_path / "cache" / "ml-1m.zip").exists()


def test_the_base_url_comes_from_the_argument_or_the_environment(server, tmp_path, monkeypatch):
    entry = manifest("http://127.0.0.1:9")  # the manifest's own server is unreachable
    fetch_release("ml-1m", cache_dir=tmp_path / "a", base_url=f"{server}/good", manifest=entry)
    monkeypatch.setenv(download.URL_ENV, f"{server}/good/")
    fetch_release("ml-1m", cache_dir=tmp_path / "b", manifest=entry)
    assert Handler.hits == {"/good/ml-1m.zip": 2}


def test_a_corrupted_download_is_discarded_with_a_clear_error(server, tmp_path):
    with pytest.raises(BenchError) as err:
        fetch_release(
            "ml-1m", cache_dir=tmp_path, base_url=f"{server}/corrupt/", manifest=manifest(server)
        )
    message = str(err.value)
    assert f"downloaded {server}/corrupt/ml-1m.zip, but it is not the published release" in message
    assert "MD5" in message and "Run the command again" in message and "--data-path" in message
    assert looks_empty(tmp_path)


def test_a_truncated_download_leaves_nothing(server, tmp_path):
    with pytest.raises(BenchError, match=f"downloading {server}/truncated/ml-1m.zip failed"):
        fetch_release(
            "ml-1m", cache_dir=tmp_path, base_url=f"{server}/truncated/", manifest=manifest(server)
        )
    assert looks_empty(tmp_path)


def test_a_404_names_the_url(server, tmp_path):
    with pytest.raises(BenchError, match=f"downloading {server}/gone/ml-1m.zip failed: 404"):
        fetch_release(
            "ml-1m", cache_dir=tmp_path, base_url=f"{server}/gone/", manifest=manifest(server)
        )
    assert looks_empty(tmp_path)


def test_a_release_without_a_checksum_is_refused_before_any_request(server, tmp_path):
    with pytest.raises(BenchError, match="ml-latest has no published checksum .* --data-path"):
        fetch_release("ml-latest", cache_dir=tmp_path, manifest=manifest(server))
    assert Handler.hits == {}
    assert looks_empty(tmp_path)


def test_a_verified_file_that_is_not_a_zip_leaves_no_extracted_folder(server, tmp_path):
    entry = manifest(server, md5=hashlib.md5(NOT_A_ZIP).hexdigest())
    with pytest.raises(BenchError, match="cannot extract .*ml-1m.zip"):
        fetch_release("ml-1m", cache_dir=tmp_path, base_url=f"{server}/html/", manifest=entry)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ml-1m.zip"]  # no folder, no temp


def test_a_folder_not_extracted_by_a_verified_run_is_replaced(server, tmp_path):
    stale = tmp_path / "ml-1m"
    stale.mkdir(parents=True)
    (stale / "ratings.dat").write_text("left by an interrupted copy\n")
    folder = fetch_release("ml-1m", cache_dir=tmp_path, manifest=manifest(server))
    assert not (folder / "ratings.dat").exists()
    assert (folder / "ml-1m" / "ratings.dat").read_text() == RATINGS


def test_a_cached_zip_with_the_wrong_hash_is_downloaded_again(server, tmp_path):
    (tmp_path / "ml-1m.zip").write_bytes(CORRUPT)
    folder = fetch_release("ml-1m", cache_dir=tmp_path, manifest=manifest(server))
    assert (tmp_path / "ml-1m.zip").read_bytes() == GOOD
    assert (folder / "ml-1m" / "ratings.dat").exists()
    assert Handler.hits == {"/good/ml-1m.zip": 1}


def test_the_committed_manifest_pins_published_md5s():
    releases = load_manifest()["releases"]
    assert releases["ml-1m"]["md5"] == "c4d9eecfca2ab87c1945afe126590906"
    for name, entry in releases.items():
        if "file" in entry:
            assert entry["file"] == f"{name}.zip"
            md5 = entry["md5"]
            assert md5 is None or len(md5) == 32 and int(md5, 16) >= 0
            assert md5 is None or entry["md5_sources"], f"{name}: say where the MD5 came from"


def test_the_cache_directory_defaults_to_the_os_cache(monkeypatch, tmp_path):
    assert download.cache_root().name == "movielens-bench"
    monkeypatch.setenv(download.CACHE_ENV, str(tmp_path))
    assert download.cache_root() == tmp_path
    assert download.cache_root(tmp_path / "x") == tmp_path / "x"
