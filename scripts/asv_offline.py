"""Make the site ``asv publish`` writes work without internet.

asv 0.6's ``index.html`` loads jQuery, flot (and three of its plugins), flot-orderbars, stupidtable,
blueimp-md5 and Bootstrap from CDNs; with no network the page is blank (it redirects to ``error.html``).
This script copies local copies of those files, taken from the npm registry packages and kept in
``scripts/asv_vendor/`` (with each package's licence, all MIT), into ``<html_dir>/vendor/`` and points
every page's ``<script>``/``<link>`` tags at them::

    asv publish && python scripts/asv_offline.py [.asv/html]     # then: asv preview

It refuses (exit status 1) when a page loads something from the network that it has no copy of (a newer
asv may change the versions): add the package to ``VENDOR`` and run ``python scripts/asv_offline.py
--fetch``, which downloads every package with ``npm pack`` and checks each file against the sha256 below.
The files whose CDN copy is byte-identical to the npm one keep asv's own integrity hash as their check;
flot 0.8.3 has no minified files on npm (cdnjs minified them), so the unminified ones are used, and
stupidtable 1.0.1 is not on npm, so 1.1.3 (same ``$(table).stupidtable()`` API) stands in.

The site reads its data with XMLHttpRequest, which browsers refuse on ``file://`` pages: view it through
a local server (``asv preview``, or ``python -m http.server -d .asv/html``), no internet needed.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

VENDOR_DIR = Path(__file__).resolve().parent / "asv_vendor"

#: CDN address in asv's pages -> (npm package@version, file inside the package, local name, sha256 base64)
VENDOR = {
    "https://code.jquery.com/jquery-3.3.1.min.js": (
        "jquery@3.3.1",
        "dist/jquery.min.js",
        "jquery-3.3.1.min.js",
        "FgpCb/KJQlLNfOu91ta32o/NMZxltwRo8QtmkMRdAu8=",
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.min.js": (
        "flot@0.8.3",
        "jquery.flot.js",
        "jquery.flot-0.8.3.js",
        "t7kx8nPDixJ3ucbB9OBcTsCYhaSHvdrzJ54tfkmjjhI=",
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.time.min.js": (
        "flot@0.8.3",
        "jquery.flot.time.js",
        "jquery.flot.time-0.8.3.js",
        "pYLIMq3HE4prBar2HxbrrCdHAfG+Sv6nfnOaHDS5xBo=",
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.selection.min.js": (
        "flot@0.8.3",
        "jquery.flot.selection.js",
        "jquery.flot.selection-0.8.3.js",
        "5shfbB6+S02inYriOMfFBgKD8F9+8FT2uRgX0CwJKRg=",
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.categories.min.js": (
        "flot@0.8.3",
        "jquery.flot.categories.js",
        "jquery.flot.categories-0.8.3.js",
        "boFmSyjqeVxzSQb0qhVhRkCnWsf705mn+5CEBAaYNRo=",
    ),
    "https://cdn.jsdelivr.net/npm/flot-orderbars@1.0.0/js/jquery.flot.orderBars.js": (
        "flot-orderbars@1.0.0",
        "js/jquery.flot.orderBars.js",
        "jquery.flot.orderBars-1.0.0.js",
        "OXNbT0b5b/TgglckAfR8VaJ2ezZv0dHoIeRKjYMKEr8=",
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/stupidtable/1.0.1/stupidtable.min.js": (
        "stupid-table-plugin@1.1.3",
        "stupidtable.min.js",
        "stupidtable-1.1.3.min.js",
        "RkI4Dyjr6e18rCUXk7KB74YgxDhiBdkniPmxL1zOtOA=",
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/blueimp-md5/2.19.0/js/md5.min.js": (
        "blueimp-md5@2.19.0",
        "js/md5.min.js",
        "md5-2.19.0.min.js",
        "ZNfe04jFYuS96eWM4gXl+gG5c0/NQ01Jbre0+/6bkn0=",
    ),
    "https://cdn.jsdelivr.net/npm/bootstrap@3.1.1/dist/js/bootstrap.min.js": (
        "bootstrap@3.1.1",
        "dist/js/bootstrap.min.js",
        "bootstrap-3.1.1.min.js",
        "iY0FoX8s/FEg3c26R6iFw3jAtGbzDwcA5QJ1fiS0A6E=",
    ),
    "https://cdn.jsdelivr.net/npm/bootstrap@3.1.1/dist/css/bootstrap.min.css": (
        "bootstrap@3.1.1",
        "dist/css/bootstrap.min.css",
        "bootstrap-3.1.1.min.css",
        "6VA0SGkrc43SYPvX98q/LhHwm2APqX5us6Vuulsafps=",
    ),
}

#: licence file of each package (flot-orderbars has none; its MIT notice is in the file's header)
LICENSES = {
    "jquery@3.3.1": "LICENSE.txt",
    "flot@0.8.3": "LICENSE.txt",
    "stupid-table-plugin@1.1.3": "LICENSE",
    "blueimp-md5@2.19.0": "LICENSE.txt",
    "bootstrap@3.1.1": "LICENSE",
}

# a <script src=...> or <link href=...> tag (the tags that make the browser load something)
_TAG = re.compile(r"<(script|link)\b[^>]*?\b(?:src|href)\s*=\s*[\"']([^\"']+)[\"'][^>]*>", re.IGNORECASE)


def sha256_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def _checked(name: str, expected: str) -> bytes:
    path = VENDOR_DIR / name
    data = path.read_bytes()
    if sha256_b64(data) != expected:
        raise SystemExit(f"asv_offline: {path} does not have the expected sha256 (run with --fetch)")
    return data


def fetch() -> None:
    """Download every package with ``npm pack`` and copy the files (and licences) into ``VENDOR_DIR``."""
    VENDOR_DIR.mkdir(exist_ok=True)
    specs = sorted({spec for spec, *_ in VENDOR.values()})
    with tempfile.TemporaryDirectory() as tmp:
        for spec in specs:
            out = subprocess.run(
                ["npm", "pack", spec, "--silent", "--pack-destination", tmp],
                check=True,
                capture_output=True,
                text=True,
            )
            with tarfile.open(Path(tmp) / out.stdout.strip().splitlines()[-1]) as tar:
                for url, (s, inner, name, expected) in VENDOR.items():
                    if s != spec:
                        continue
                    data = tar.extractfile(f"package/{inner}").read()
                    if sha256_b64(data) != expected:
                        raise SystemExit(f"asv_offline: {spec} {inner} differs from the file recorded for {url}")
                    (VENDOR_DIR / name).write_bytes(data)
                if spec in LICENSES:
                    licence = tar.extractfile(f"package/{LICENSES[spec]}").read()
                    (VENDOR_DIR / f"{spec.replace('@', '-')}.LICENSE.txt").write_bytes(licence)
            print(f"fetched {spec}")


def rewrite_page(text: str) -> tuple[str, list[str]]:
    """Point the CDN tags of one page at ``vendor/``; returns the new text and the unknown external addresses."""
    unknown = []

    def local(match: re.Match) -> str:
        tag, url = match.group(1).lower(), match.group(2)
        if not re.match(r"(https?:)?//", url):
            return match.group(0)
        if url not in VENDOR:
            if tag == "script" or "stylesheet" in match.group(0).lower():
                unknown.append(url)
            return match.group(0)  # e.g. <link rel="alternate">: not loaded by the page
        name = VENDOR[url][2]
        if tag == "script":
            return f'<script src="vendor/{name}" onerror="js_load_failure()">'
        return f'<link rel="stylesheet" href="vendor/{name}">'

    return _TAG.sub(local, text), unknown


def make_offline(html_dir: Path) -> list[Path]:
    """Copy the vendored files into ``html_dir/vendor`` and rewrite every page; returns the pages changed."""
    html_dir = Path(html_dir)
    if not (html_dir / "index.html").is_file():
        raise SystemExit(f"asv_offline: no index.html in {html_dir} (run `asv publish` first)")
    (html_dir / "vendor").mkdir(exist_ok=True)
    for _, _, name, expected in VENDOR.values():
        (html_dir / "vendor" / name).write_bytes(_checked(name, expected))
    for licence in VENDOR_DIR.glob("*.LICENSE.txt"):
        shutil.copyfile(licence, html_dir / "vendor" / licence.name)
    changed, unknown = [], []
    for page in sorted(html_dir.rglob("*.html")):
        if page.parent.name == "vendor":
            continue
        text = page.read_text(encoding="utf-8")
        new, missing = rewrite_page(text)
        unknown += [f"{page}: {url}" for url in missing]
        if new != text:
            page.write_text(new, encoding="utf-8")
            changed.append(page)
    if unknown:
        raise SystemExit("asv_offline: these pages load files this script has no copy of:\n  " + "\n  ".join(unknown))
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("html_dir", nargs="?", default=".asv/html", help="asv's html_dir (default: .asv/html)")
    parser.add_argument("--fetch", action="store_true", help="download the files from the npm registry (npm pack)")
    args = parser.parse_args(argv)
    if args.fetch:
        fetch()
        if not Path(args.html_dir, "index.html").is_file():
            return 0
    pages = make_offline(Path(args.html_dir))
    print(f"asv_offline: {len(pages)} page(s) in {args.html_dir} now load their scripts from vendor/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
