"""Run inside the namespace against a Janus started by deploy/janus/entrypoint.sh:
the shipped config keeps Janus's API to holders of the secret."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import httpx

from preau.rtc.janus.protocol import JanusError
from preau.rtc.janus.session import JanusSession


async def main(args: dict[str, Any]) -> dict[str, Any]:
    url, secret = args["url"], args["secret"]
    report: dict[str, Any] = {}
    async with httpx.AsyncClient() as http:
        info = (await http.get(f"{url}/info")).json()
        report["plugins"] = sorted(info.get("plugins", {}))
        report["transports"] = sorted(info.get("transports", {}))
        anonymous = (await http.post(url, json={"janus": "create", "transaction": "t"})).json()
        report["without_secret"] = anonymous.get("error", {}).get("code")
        session = JanusSession(http, url, secret)
        await session.start()
        try:
            handle = await session.attach("janus.plugin.videoroom")
            try:
                await session.message(handle, {"request": "create", "room": "x"})
                report["create_without_admin_key"] = "accepted"
            except JanusError as e:
                report["create_without_admin_key"] = e.code
            try:
                await session.message(handle, {"request": "create", "room": "x",
                                               "admin_key": "guess"})
                report["create_with_wrong_admin_key"] = "accepted"
            except JanusError as e:
                report["create_with_wrong_admin_key"] = e.code
            reply = await session.message(handle, {
                "request": "create", "room": "x", "admin_key": secret, "secret": secret})
            report["create_with_admin_key"] = reply.data.get("videoroom")
            try:
                await session.message(handle, {"request": "destroy", "room": "x",
                                               "secret": "guess"})
                report["destroy_with_wrong_secret"] = "accepted"
            except JanusError as e:
                report["destroy_with_wrong_secret"] = e.code
        finally:
            await session.close()
    return report


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(json.loads(sys.argv[1])))), flush=True)
