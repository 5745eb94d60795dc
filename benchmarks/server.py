"""A fleet's fakes in their own process, for the timing rows: ``python -m benchmarks.server``.

Why a process of its own: the fakes validate every request and reply against the official API
descriptions, which costs CPU. In afk's process that CPU would share the GIL with the tick being
timed; here it runs on another core, as a real forge's work runs on another machine.

Protocol on stdio: the server builds the fleet, answers one request to each fake (so loading the
API descriptions is not timed), prints one JSON line of afk settings, then answers each
``counts`` line on stdin with a JSON line of what it served since the last one. It stops when
stdin closes.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import httpx

from afk.testing.fake_t3 import SNAPSHOT_PATH
from afk.testing.world import BOT_TOKEN, T3_TOKEN, Forge, World
from benchmarks.fleet import add_ready, counts, no_delay_loopback, repo_names, reset


def warm_up(world: World) -> None:
    with httpx.Client(timeout=10) as client:
        auth = {"Authorization": f"token {BOT_TOKEN}"}
        client.get(f"{world.tracker_url}/user", headers=auth).raise_for_status()
        t3_auth = {"Authorization": f"Bearer {T3_TOKEN}"}
        client.get(f"{world.t3_url}{SNAPSHOT_PATH}", headers=t3_auth).raise_for_status()
    reset(world)


def serve(forge: Forge, repos: int, per_repo: int, latency_s: float) -> None:
    no_delay_loopback()
    names = repo_names(repos)
    with World(
        forge=forge, repos=names, slack=False, transport="loopback", latency_s=latency_s
    ) as world:
        add_ready(world, names, per_repo)
        warm_up(world)
        print(json.dumps(world.settings()), flush=True)
        for line in sys.stdin:
            if line.strip() == "counts":
                seen = counts(world)
                reply: dict[str, Any] = {
                    "forge": seen.forge,
                    "logins": seen.logins,
                    "t3": seen.t3_reads + seen.t3_writes,
                }
                reset(world)
                print(json.dumps(reply), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.server")
    parser.add_argument("--forge", choices=["forgejo", "github"], default="forgejo")
    parser.add_argument("--repos", type=int, required=True)
    parser.add_argument("--ready", type=int, default=1, help="ready issues per repo")
    parser.add_argument("--latency-ms", type=float, default=100.0)
    args = parser.parse_args()
    forge: Forge = "github" if args.forge == "github" else "forgejo"
    serve(forge, args.repos, args.ready, args.latency_ms / 1000)


if __name__ == "__main__":
    main()
