"""Download a MovieLens release once, verified against the MD5 committed in the manifest.

``pooch`` streams the zip to a temporary name in the cache folder and renames it only when its
hash matches; the zip is then extracted into a temporary folder that is renamed into place only
when complete. So an interrupted or corrupted download never leaves anything that looks valid,
and a second load reuses the extracted folder without touching the network.

Overrides: ``cache_dir`` argument > ``BENCH_CACHE_DIR`` > ``pooch.os_cache("movielens-bench")``;
``base_url`` argument > ``BENCH_MOVIELENS_URL`` > the manifest's ``base_url``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import zipfile
from pathlib import Path

from bench.errors import BenchError

MANIFEST_PATH = Path(__file__).resolve().parents[2] / "datasets" / "MANIFEST.json"
CACHE_ENV = "BENCH_CACHE_DIR"
URL_ENV = "BENCH_MOVIELENS_URL"
MARKER = ".bench-source-md5"  # written into an extracted folder: the MD5 of the zip it came from


def load_manifest(path: Path | None = None) -> dict:
    """The manifest of releases (``datasets/MANIFEST.json`` unless ``path`` is given)."""
    path = Path(path or MANIFEST_PATH)
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise BenchError(f"cannot read dataset manifest {path}: {exc}") from None


def cache_root(cache_dir: Path | str | None = None) -> Path:
    """Where downloads are kept: the argument, else ``$BENCH_CACHE_DIR``, else the OS cache."""
    if cache_dir is None:
        cache_dir = os.environ.get(CACHE_ENV) or None
    if cache_dir is None:
        import pooch

        cache_dir = pooch.os_cache("movielens-bench")
    return Path(cache_dir).expanduser()


def release_url(entry: dict, manifest: dict, base_url: str | None = None) -> str:
    """The zip's URL: ``base_url`` argument, else ``$BENCH_MOVIELENS_URL``, else the manifest's."""
    base = base_url or os.environ.get(URL_ENV) or manifest["base_url"]
    return base.rstrip("/") + "/" + entry["file"]


def fetch_release(
    name: str,
    cache_dir: Path | str | None = None,
    base_url: str | None = None,
    manifest: dict | None = None,
) -> Path:
    """The extracted folder of release ``name``, downloading and verifying it the first time."""
    manifest = load_manifest() if manifest is None else manifest
    entry = manifest["releases"].get(name)
    if entry is None or "file" not in entry:
        known = sorted(k for k, v in manifest["releases"].items() if "file" in v)
        raise BenchError(f"'{name}' is not a downloadable release; known: {', '.join(known)}")
    url = release_url(entry, manifest, base_url)
    md5 = entry.get("md5")
    if not md5:
        raise BenchError(
            f"{name} has no published checksum in the dataset manifest, so it is not downloaded "
            f"unverified. Download {url} yourself, check it against the .md5 file GroupLens "
            f"publishes beside it, extract it and pass --data-path DIR --dataset {name}"
        )
    root = cache_root(cache_dir)
    target = root / name
    if (target / MARKER).is_file() and (target / MARKER).read_text().strip() == md5:
        return target  # extracted from a verified zip before: no network
    zip_path = _download(url, root, entry["file"], md5, name)
    return _extract(zip_path, target, md5)


def _download(url: str, root: Path, fname: str, md5: str, name: str) -> Path:
    """The verified zip in ``root`` (downloaded unless a copy with the right MD5 is there)."""
    import pooch
    import requests

    retry = (
        f"Nothing of this download was kept in {root}. Run the command again to retry, set "
        f"{URL_ENV} to a mirror, or download and extract {fname} yourself and pass "
        f"--data-path DIR --dataset {name}"
    )
    try:
        path = pooch.retrieve(
            url,
            known_hash=f"md5:{md5}",
            fname=fname,
            path=root,
            downloader=pooch.HTTPDownloader(progressbar=False, timeout=60),
        )
    except ValueError as exc:  # pooch: the hash does not match (the temporary file is deleted)
        got = re.search(r"got ([0-9a-f]{32})", str(exc))
        raise BenchError(
            f"downloaded {url}, but it is not the published release: its MD5 is "
            f"{got.group(1) if got else 'different'}, not the manifest's {md5}, so it was deleted. "
            f"The download was corrupted or the server's copy changed. {retry}"
        ) from None
    except requests.RequestException as exc:
        raise BenchError(f"downloading {url} failed: {exc}. {retry}") from None
    except OSError as exc:
        raise BenchError(f"cannot write the download of {url} into {root}: {exc}") from None
    return Path(path)


def _extract(zip_path: Path, target: Path, md5: str) -> Path:
    """Unzip into a temporary folder beside ``target``, then rename it into place."""
    if target.exists():  # stale: from another zip, or left by an older version
        shutil.rmtree(target)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", suffix=".partial", dir=target.parent))
    try:
        with zipfile.ZipFile(zip_path) as archive:
            archive.extractall(tmp)
        (tmp / MARKER).write_text(md5 + "\n")
        try:
            os.rename(tmp, target)
        except OSError:
            if not (target / MARKER).is_file():  # not a concurrent loader that won the race
                raise
    except (zipfile.BadZipFile, OSError) as exc:
        raise BenchError(
            f"cannot extract {zip_path}: {exc}; delete it and run again to download it anew"
        ) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target
