"""clamd's INSTREAM client against a real clamd (preau/server/attachments/scanning.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from preau.server.attachments.scanning import (
    ClamdAddress,
    ClamdScanner,
    Clean,
    Infected,
    Unavailable,
    parse_reply,
)
from tests.server.attachments import samples
from tests.server.attachments.clamd import EICAR, PREAU_TEST_MARKER, private_clamd


def write(tmp_path: Path, data: bytes, name: str = "file") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


async def test_eicar_is_infected_and_a_worksheet_clean(clamd_address: str,
                                                       tmp_path: Path) -> None:
    scanner = ClamdScanner(clamd_address)
    assert await scanner.ping()
    result = await scanner.scan(write(tmp_path, EICAR, "eicar.txt"))
    assert isinstance(result, Infected)
    assert result.signature.startswith("Eicar-Test-Signature")
    assert await scanner.scan(write(tmp_path, samples.pdf(), "fiche.pdf")) == Clean()


async def test_over_tcp_and_across_chunk_boundaries(tmp_path: Path) -> None:
    """The signature straddles two INSTREAM chunks: clamd sees one stream."""
    with private_clamd() as clamd:
        scanner = ClamdScanner(clamd.tcp_address, chunk_bytes=1000)
        data = b"a" * 990 + PREAU_TEST_MARKER + b"b" * 5000
        result = await scanner.scan(write(tmp_path, data))
        assert result == Infected("Preau-Test-Marker.UNOFFICIAL")
        assert await scanner.scan(write(tmp_path, b"a" * 7000, "clean")) == Clean()


async def test_scanner_down_is_unavailable_never_clean(tmp_path: Path) -> None:
    with private_clamd(start=False) as clamd:
        for address in (clamd.unix_address, clamd.tcp_address):
            scanner = ClamdScanner(address, connect_timeout=2)
            assert not await scanner.ping()
            result = await scanner.scan(write(tmp_path, EICAR))
            assert isinstance(result, Unavailable)


async def test_a_file_past_clamds_stream_limit_is_unavailable(tmp_path: Path) -> None:
    """clamd refuses streams past StreamMaxLength: not scanned, so not clean
    (docs/operations.md: set it to at least the largest attachment)."""
    with private_clamd(stream_max="1M") as clamd:
        scanner = ClamdScanner(clamd.unix_address)
        result = await scanner.scan(write(tmp_path, b"x" * 3_000_000))
        assert isinstance(result, Unavailable), result


async def test_a_silent_scanner_times_out_as_unavailable(tmp_path: Path) -> None:
    accepted: list[asyncio.StreamWriter] = []

    async def silent(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        scanner = ClamdScanner(f"tcp:127.0.0.1:{port}", timeout=0.5)
        result = await scanner.scan(write(tmp_path, b"hello"))
        assert isinstance(result, Unavailable)
        assert "no verdict" in result.reason
        assert accepted
    finally:
        for writer in accepted:
            writer.close()
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize(("reply", "result"), [
    (b"stream: OK\0", Clean()),
    (b"stream: Win.Test.EICAR_HDB-1 FOUND\0", Infected("Win.Test.EICAR_HDB-1")),
    (b"INSTREAM size limit exceeded. ERROR\0", None),
    (b"stream: Can't allocate memory ERROR\0", None),
    (b"\0", None),
])
def test_replies(reply: bytes, result: object) -> None:
    parsed = parse_reply(reply)
    if result is None:
        assert isinstance(parsed, Unavailable)
    else:
        assert parsed == result


@pytest.mark.parametrize("address", ["", "clamd", "unix:relative", "tcp:host", "tcp::3310",
                                     "tcp:host:99999", "http://127.0.0.1:3310"])
def test_bad_addresses_are_a_clear_error(address: str) -> None:
    with pytest.raises(ValueError, match="clamd address"):
        ClamdAddress.parse(address)


def test_addresses() -> None:
    assert ClamdAddress.parse("unix:/run/clamav/clamd.ctl").unix_path == "/run/clamav/clamd.ctl"
    tcp = ClamdAddress.parse("tcp:[::1]:3310")
    assert (tcp.host, tcp.port) == ("::1", 3310)
