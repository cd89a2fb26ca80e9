"""Uploads through the attachment service (preau/server/attachments/service.py)
on real services, either store, and a real clamd: bad input refused with its
code and nothing stored; EICAR refused and reported to the school's admins;
a scanner down holds files as pending (nobody gets their bytes), then another
node's scan releases them and their message says so; the word filter reads
file names; export lists the files; the background sweep."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from preau.server.errors import ErrorCode, PreauError
from preau.server.moderation.wordfilter import WordLists
from preau.server.store import AuditQuery
from tests.server.attachments import clamd, samples
from tests.server.attachments.world import World, world


async def stored(w: World) -> tuple[int, list[Path]]:
    """Rows of attachments, and files left under the data directory's
    uploads and blobs (nothing of a refused upload may stay)."""
    async with w.services.store.engine.transaction(readonly=True) as tx:
        rows = int(await tx.fetchval("SELECT COUNT(*) FROM attachments"))
    data = w.services.settings.data_dir
    left = [p for p in (data / "uploads").rglob("*") if p.is_file()] if (
        data / "uploads").exists() else []
    left += [p for p in (data / "blobs").rglob("*") if p.is_file()] if (
        data / "blobs").exists() else []
    return rows, left


async def refused_with(w: World, code: ErrorCode, name: str = "Léa", **upload: object) -> None:
    with pytest.raises(PreauError) as caught:
        await w.upload(name, **upload)  # type: ignore[arg-type]
    assert caught.value.code is code, caught.value


async def test_bad_input_is_refused_and_nothing_stored(
    store_url: str, tmp_path: Path
) -> None:
    async with world(store_url, tmp_path, attachment_person_quota_bytes=20_000,
                     attachment_max_bytes=10_000) as w:
        pdf = samples.pdf()
        # The declared type says image, the bytes say PDF.
        await refused_with(w, ErrorCode.ATTACHMENT_TYPE_MISMATCH, declared="image/jpeg")
        # Fewer bytes than announced (the client went away), or more.
        await refused_with(w, ErrorCode.ATTACHMENT_TRUNCATED, length=len(pdf) + 100)
        await refused_with(w, ErrorCode.ATTACHMENT_TOO_LARGE, length=len(pdf) - 100)
        # Over the size limit: refused from the announced length, before reading.
        await refused_with(w, ErrorCode.ATTACHMENT_TOO_LARGE, content=b"x" * 10_001)
        await refused_with(w, ErrorCode.ATTACHMENT_LENGTH_REQUIRED, length=None)
        # Names that are paths, hold control characters or turn text around.
        for bad in ("../../etc/passwd", "a/b.pdf", "fiche\x07.pdf", "\u202efdp.exe", "",
                    "é" * 200 + ".pdf"):
            await refused_with(w, ErrorCode.ATTACHMENT_NAME_INVALID, file_name=bad)
        # What can run: an SVG with script, a zip, HTML, a program.
        for content, declared in ((samples.SVG, "image/svg+xml"),
                                  (samples.zip_with_script(), "application/zip"),
                                  (samples.HTML, "text/html"), (samples.ELF, None)):
            await refused_with(w, ErrorCode.ATTACHMENT_TYPE_REFUSED, content=content,
                               declared=declared)
        assert await stored(w) == (0, [])
        # The person's quota: what fits is kept, the next file is refused.
        big = samples.pdf(text=b"x" * 8_000)
        await w.upload("Léa", content=big)
        await w.upload("Léa", content=samples.pdf(text=b"y" * 8_000))
        await refused_with(w, ErrorCode.ATTACHMENT_QUOTA, content=samples.pdf(text=b"z" * 8000))
        rows, files = await stored(w)
        assert rows == 2
        assert not [f for f in files if "uploads" in f.parts]
        # Another person has their own.
        assert await w.upload("Hugo", content=big)


async def test_a_file_sent_without_text_and_the_word_filter_on_its_name(
    store_url: str, tmp_path: Path
) -> None:
    async with world(store_url, tmp_path) as w:
        await w.services.moderation.set_word_filter(
            await w.member("Anne"), w.school_id, WordLists(block=("interdit",)))
        room = await w.room("5A")
        bad = await w.upload("Léa", file_name="mot interdit.pdf")
        with pytest.raises(PreauError) as caught:
            await w.send("Léa", room, (bad,))
        assert caught.value.code is ErrorCode.FILTERED
        ok = await w.upload("Léa", file_name="fiche.pdf")
        seq = await w.send("Léa", room, (ok,))  # no text: the file is the message
        [entry] = await w.services.chat.history(await w.member("Hugo"), room, before=None,
                                                after=None, limit=5)
        assert (entry["seq"], entry["body"]) == (seq, "")
        assert entry["attachments"][0]["name"] == "fiche.pdf"
        # Someone else's upload, or too many: refused, nothing posted.
        hugo = await w.upload("Hugo")
        with pytest.raises(PreauError) as other:
            await w.send("Léa", room, (hugo,))
        assert other.value.code is ErrorCode.NOT_FOUND
        with pytest.raises(PreauError) as many:
            await w.send("Léa", room, tuple(f"a{n}" for n in range(11)))
        assert many.value.code is ErrorCode.BAD_REQUEST
        # Export lists the person's files with their links.
        export = await w.services.privacy.export(await w.member("Anne"), w.ids["Léa"])
        chunks = [c async for c in export]
        exported = b"".join(chunks)
        assert f"/api/attachments/{ok}".encode() in exported
        assert b'"name":"fiche.pdf"' in exported


async def test_scanning_refuses_eicar_and_holds_files_while_it_is_down(
    store_url: str, tmp_path: Path, clamd_address: str
) -> None:
    # Two nodes on one store reach the same bytes: a shared directory for
    # SQLite, the database itself (the default) for PostgreSQL.
    shared = f"file://{tmp_path / 'blobs'}" if store_url.startswith("sqlite") else ""
    with clamd.private_clamd(start=False) as down:
        async with world(store_url, tmp_path / "a", attachment_clamd=clamd_address,
                         attachment_store=shared) as w, \
                world(store_url, tmp_path / "b", attachment_clamd=down.unix_address,
                      attachment_store=shared, seed=False) as node_b:
            # EICAR: refused, and the school's admins read it in the audit log.
            with pytest.raises(PreauError) as infected:
                await w.upload("Léa", content=clamd.EICAR, file_name="virus.txt",
                               declared="text/plain")
            assert infected.value.code is ErrorCode.ATTACHMENT_INFECTED
            audit = await w.services.store.audit_entries(w.school_id, AuditQuery())
            assert [e.action.value for e in audit] == ["attachment.infected"]
            assert audit[0].target_person_id == w.ids["Léa"]
            # A clean PDF: ready.
            clean = await w.upload("Claire")
            assert (await w.files.store.get(clean)).state == "ready"  # type: ignore[union-attr]
            # On the node whose scanner is down: pending, sent, nobody gets its bytes.
            pending = await node_b.upload("Claire", content=samples.pdf(text=b"devoirs"))
            room = await node_b.room("5A")
            await node_b.send("Claire", room, (pending,))
            for who in ("Claire", "Léa"):
                with pytest.raises(PreauError) as waiting:
                    await node_b.files.download(await node_b.member(who), pending)
                assert waiting.value.code is ErrorCode.ATTACHMENT_PENDING
            assert await node_b.files.rescan_pending() == 0  # still down: still pending
            assert await node_b.files.status() == {"scanner": "down", "pending": 1}
            assert await w.files.status() == {"scanner": "up", "pending": 1}
            # The node with a working scanner takes it when it is due again.
            w.clock.now += 10 * 60_000
            assert await w.files.rescan_pending() == 1
            found = await node_b.files.download(await node_b.member("Léa"), pending)
            assert found.state == "ready"
            assert await w.files.status() == {"scanner": "up", "pending": 0}
            body = b"".join([c async for c in node_b.files.read(found)])
            assert hashlib.sha256(body).hexdigest() == found.sha256
            [entry] = await node_b.services.chat.history(
                await node_b.member("Léa"), room, before=None, after=None, limit=5)
            assert entry["attachments"][0]["state"] == "ready"


async def test_uploads_per_account_are_limited(store_url: str, tmp_path: Path) -> None:
    async with world(store_url, tmp_path, attachment_uploads_burst=2,
                     attachment_uploads_per_hour=1.0) as w:
        await w.upload("Léa")
        await w.upload("Léa", content=samples.pdf(text=b"deux"))
        with pytest.raises(PreauError) as limited:
            await w.upload("Léa", content=samples.pdf(text=b"trois"))
        assert limited.value.code is ErrorCode.RATE_LIMITED
        assert limited.value.retry_after is not None
        assert limited.value.retry_after > 0
        assert await w.upload("Hugo")  # his own bucket


async def test_the_sweep_deletes_uploads_never_sent(store_url: str, tmp_path: Path) -> None:
    async with world(store_url, tmp_path) as w:
        kept = await w.upload("Léa")
        await w.send("Léa", await w.room("5A"), (kept,))
        forgotten = await w.upload("Léa", content=samples.pdf(text=b"brouillon"))
        assert await w.files.sweep() == 0
        w.clock.now += 3601 * 1000
        assert await w.files.sweep() == 1
        assert await w.files.store.get(forgotten) is None
        assert await w.files.store.get(kept) is not None


async def test_a_school_chooses_its_kinds_within_the_deployments(
    store_url: str, tmp_path: Path
) -> None:
    async with world(store_url, tmp_path,
                     attachment_kinds=frozenset({"document", "image", "audio"})) as w:
        anne = await w.member("Anne")
        found = await w.services.moderation.school_settings(anne, w.school_id)
        assert found["attachment_kinds"] is None  # the deployment's
        saved = await w.services.moderation.set_school_settings(
            anne, w.school_id, quiet_hours=None, parents_may_message=None,
            attachment_kinds=frozenset({"image", "video"}))
        assert saved["attachment_kinds"] == ["image", "video"]
        # A PDF is no longer accepted; video stays refused by the deployment.
        await refused_with(w, ErrorCode.ATTACHMENT_TYPE_REFUSED)
        assert await w.files.kinds_of(w.school_id) == frozenset({"image"})
        photo = samples.image_bytes("JPEG")
        assert await w.upload("Léa", content=photo, file_name="photo.jpg",
                              declared="image/jpeg")
        audit = await w.services.store.audit_entries(w.school_id, AuditQuery())
        assert audit[0].details["attachment_kinds"] == ["image", "video"]


async def test_erasure_takes_private_files_and_pseudonymises_the_rest(
    store_url: str, tmp_path: Path
) -> None:
    async with world(store_url, tmp_path) as w:
        room = await w.room("5A")
        conversation, _ = await w.services.chat.open_conversation(
            await w.member("Léa"), [w.ids["Claire"]])
        in_class = await w.upload("Léa", content=samples.pdf(text=b"expose"))
        await w.send("Léa", room, (in_class,))
        private = await w.upload("Léa", content=samples.pdf(text=b"mot pour la maitresse"))
        await w.send("Léa", conversation.id, (private,))
        private_sha = (await w.files.store.get(private)).sha256  # type: ignore[union-attr]
        lea = w.ids["Léa"]
        await w.services.privacy.request_erasure(await w.member("Anne"), lea, False)
        # The conversation's message is gone: its file is nobody's, then swept
        # with its bytes.
        assert not await w.reads_file("Claire", private)
        await w.files.sweep()
        assert await w.files.store.get(private) is None
        assert await w.files.store.blob_refs(private_sha) == 0
        # The class room's message stays, pseudonymised: so does its file.
        kept = await w.files.store.get(in_class)
        assert kept is not None
        assert kept.author_id != lea
        assert await w.reads_file("Hugo", in_class)
        async with w.services.store.engine.transaction(readonly=True) as tx:
            rows = await tx.fetch("SELECT * FROM attachments")
        assert lea not in str([dict(r) for r in rows])


async def test_an_erased_persons_uploads_never_sent_go_with_the_erasure(
    store_url: str, tmp_path: Path
) -> None:
    """An outside probe found a file Léa uploaded but never sent kept, with
    its bytes, under the pseudonym until the hour of unsent uploads ended."""
    async with world(store_url, tmp_path) as w:
        unsent = await w.upload("Léa", content=samples.pdf(text=b"brouillon de Lea"))
        sha = (await w.files.store.get(unsent)).sha256  # type: ignore[union-attr]
        hugos = await w.upload("Hugo", content=samples.pdf(text=b"brouillon de Hugo"))
        await w.services.privacy.request_erasure(await w.member("Anne"), w.ids["Léa"], False)
        assert await w.files.store.get(unsent) is None  # at once, not an hour later
        assert await w.files.store.blob_refs(sha) == 0
        assert await w.files.store.get(hugos) is not None  # another's unsent upload stays


async def test_the_sweep_removes_what_a_node_killed_mid_upload_left(
    store_url: str, tmp_path: Path
) -> None:
    """A node killed in the middle of an upload left the partial body under
    uploads/ for ever (an outside probe: a pupil's half-sent file after a
    restart). The sweep removes what was not written to for an hour; an
    upload in progress is left alone."""
    import os
    import time

    async with world(store_url, tmp_path) as w:
        uploads = tmp_path / "uploads"
        crashed, running = uploads / "tmpcrashed", uploads / "tmprunning"
        for folder in (crashed, running):
            folder.mkdir(parents=True)
            (folder / "upload").write_bytes(b"LEA-HALF-SENT")
        hour_ago = time.time() - 3700
        for path in (crashed / "upload", crashed):
            os.utime(path, (hour_ago, hour_ago))
        os.utime(running, (hour_ago, hour_ago))  # its file is being written now
        staging = tmp_path / "blobs" / "tmp"
        if staging.is_dir():  # the file blob store's copies in progress
            (staging / "tmpcopy").write_bytes(b"LEA-HALF-COPIED")
            os.utime(staging / "tmpcopy", (hour_ago, hour_ago))
        await w.files.sweep()
        assert not crashed.exists()
        assert (running / "upload").exists()
        assert not (staging / "tmpcopy").exists()


async def test_last_years_room_keeps_its_files_read_only_until_it_goes(
    store_url: str, tmp_path: Path
) -> None:
    from preau.server.directory.csv_import import parse_csv
    from preau.server.directory.importer import Rollover, import_directory
    from tests.server.attachments.world import CSV

    async with world(store_url, tmp_path) as w:
        room = await w.room("5A")
        sheet = await w.upload("Claire")
        await w.send("Claire", room, (sheet,))
        report = await import_directory(
            w.services.store, parse_csv(CSV), uai="0751234A", school_name="Collège Hugo",
            timezone="Europe/Paris", activation_ttl_s=86_400, now_ms=w.clock.now,
            rollover=Rollover("2025-2026", 30))
        assert report.archived_rooms == 2
        await w.services.directory.reload(w.school_id)
        # Archived: read-only, its file still read where its history is.
        for person in ("Anne", "Claire", "Léa", "Inès"):
            assert await w.reads_file(person, sheet) == await w.reads_room(person, room), person
        assert await w.reads_file("Anne", sheet)
        other = await w.upload("Claire")
        with pytest.raises(PreauError):
            await w.send("Claire", room, (other,))
        # Its keeping period ends: the room, its messages and the file go.
        w.clock.now += 31 * 86_400_000
        result = await w.services.privacy.retention.run_once()
        assert result is not None
        assert result["archived_rooms"] == 2
        assert result["files"] == 2  # the sheet, and the upload never sent
        assert await w.files.store.get(sheet) is None
