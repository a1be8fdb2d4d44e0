#!/usr/bin/env python
# Copyright (c) telenor.oauth contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Print the files the demo's role run wrote, with every token replaced by a fingerprint.

Usage: show_written.py DIR   (DIR/<host>/app.env and DIR/<host>/config.json)
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from pathlib import Path


def fingerprint(token: str) -> str:
    """A short, non-secret name for a token: the start of its SHA-256."""
    return f"<token sha256:{hashlib.sha256(token.encode()).hexdigest()[:12]}>"


def main(base: Path) -> int:
    seen = set()
    for host in sorted(p for p in base.iterdir() if p.is_dir()):
        env = (host / "app.env").read_text()
        tokens = re.findall(r"^TELENOR_ACCESS_TOKEN=(\S+)$", env, re.M)
        document = json.loads((host / "config.json").read_text())
        tokens.append(document["telenor"]["access_token"])
        seen.update(tokens)
        shown_env = re.sub(r"^(TELENOR_ACCESS_TOKEN=)\S+$", lambda m: m.group(1) + fingerprint(tokens[0]), env, flags=re.M)
        document["telenor"]["access_token"] = fingerprint(document["telenor"]["access_token"])
        print(f"  {host.name}/app.env:     {shown_env.strip().replace(chr(10), ' | ')}")
        print(f"  {host.name}/config.json: {json.dumps(document)}")
    print(f"  one token on every host: {'yes' if len(seen) == 1 else 'NO'}")
    return 0 if len(seen) == 1 else 1


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
