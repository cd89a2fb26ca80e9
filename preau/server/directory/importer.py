"""Apply a parsed directory CSV to the store: one transaction, codes for new accounts.

A *rollover* (the new school year's full list, ``preau import --rollover``)
does more, in three steps (docs/data-protection.md, "School year"):

1. last year's classes are set aside: renamed with the year's label, their
   rooms read-only and kept for ``keep_rooms_days`` (then the retention job
   deletes them), so this year's classes start with fresh, empty rooms even
   when they have the same names;
2. the import itself: pupils move to their new classes;
3. everyone of the school who is not in the file is closed (they left):
   their sessions end, every node closes their sockets after it reloads the
   directory, and the three-month erasure clock starts.

A rollover file with a rejected row is refused whole: the person on that row
would otherwise be taken for someone who left. Running the same rollover
again (same label) does not set this year's classes aside a second time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from preau.server.auth import tokens
from preau.server.directory.csv_import import ParsedImport, RowError, in_order
from preau.server.directory.model import Profile, School
from preau.server.directory.rules import default_rules
from preau.server.errors import bad_request
from preau.server.store import CreatedAccount, ImportBatch, Link, PersonRow, Store
from preau.server.store.privacy import PrivacyStore

DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class Rollover:
    """A new school year: ``label`` names the year that ends (``2025-2026``)."""

    label: str
    keep_rooms_days: int


def ended_school_year(now_ms: int) -> str:
    """The label of the school year that ended last (French years end in July)."""
    now = datetime.fromtimestamp(now_ms / 1000, UTC)
    start = now.year - 1 if now.month >= 7 else now.year - 2
    return f"{start}-{start + 1}"


@dataclass(frozen=True, slots=True)
class NewAccount:
    account: CreatedAccount
    display_name: str
    profile: Profile
    activation_code: str


@dataclass
class ImportReport:
    school: School
    created: list[NewAccount] = field(default_factory=list)
    updated: int = 0
    classes_created: int = 0
    errors: list[RowError] = field(default_factory=list)
    # Rollover only: accounts closed, their ended sessions, rooms set aside.
    closed: list[str] = field(default_factory=list)
    revoked_sessions: list[str] = field(default_factory=list)
    archived_rooms: int = 0


def _school_links(school_id: str) -> list[Link]:
    return sorted(default_rules(school_id, ()).links)


def class_links(school_id: str, class_id: str) -> list[Link]:
    """The links a new class (or group) adds to its school's rules."""
    # What the class adds to the school's rules: its parents and teachers reach
    # each other, and its pupils each other (a self-link on their group).
    rules = default_rules(school_id, [class_id])
    school = default_rules(school_id, ()).links
    own = {link for link in rules.links if link not in school}
    own.update((group, group) for group in rules.internal)
    return sorted(own)


def default_links(school_id: str, class_ids: list[str]) -> set[Link]:
    """Every link a school with these classes (and groups) gets by default:
    what the import and the console's new classes write (the French ENT
    defaults, shared/reference/communication-rules.md)."""
    links = set(_school_links(school_id))
    for class_id in class_ids:
        links.update(class_links(school_id, class_id))
    return links


async def import_directory(
    store: Store,
    parsed: ParsedImport,
    *,
    uai: str,
    school_name: str,
    timezone: str,
    activation_ttl_s: int,
    now_ms: int,
    rollover: Rollover | None = None,
) -> ImportReport:
    """Import the good rows of ``parsed``; its bad rows (and parents of unknown
    children) come back in ``errors`` with their line numbers. With
    ``rollover``, see the module docstring."""
    uai = uai.strip().upper()
    if not uai or len(uai) > 16 or not uai.isalnum():
        raise bad_request("the school code (UAI) is 1-16 letters and digits")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise bad_request(f"unknown time zone {timezone!r}") from None
    errors = list(parsed.errors)
    pupils = {p.external_id for p in parsed.people if p.profile is Profile.PUPIL}
    existing = await store.school_by_uai(uai)
    if existing is not None:
        view = await store.load_school(existing.id)
        if view is not None:
            pupils.update(
                p.external_id for p in view.people.values() if p.profile is Profile.PUPIL
            )
    if rollover is not None and existing is None:
        raise bad_request("a rollover is for a school already imported")
    rows: list[PersonRow] = []
    codes: dict[str, str] = {}
    expires = now_ms + activation_ttl_s * 1000
    for person in parsed.people:
        unknown = [c for c in person.parent_of if c not in pupils]
        if unknown:
            errors.append(person.error(
                "unknown child id(s): " + ", ".join(unknown), "parent_de",
                "enfant(s) inconnu(s) : " + ", ".join(unknown)))
            continue
        code = tokens.new_activation_code()
        codes[person.external_id] = code
        rows.append(PersonRow(
            external_id=person.external_id,
            profile=person.profile,
            first_name=person.first_name,
            last_name=person.last_name,
            class_names=person.class_names,
            group_names=person.groups,
            parent_of=person.parent_of,
            is_admin=person.is_admin,
            activation_hash=tokens.digest(code),
            activation_expires_ms=expires,
        ))
    archived = 0
    if rollover is not None:
        assert existing is not None
        if errors:
            return ImportReport(school=existing, errors=in_order(errors))
        archived = len(await PrivacyStore(store.engine).archive_classes(
            existing.id, f"({rollover.label})", now_ms,
            now_ms + rollover.keep_rooms_days * DAY_MS, label=rollover.label,
        ))
    result = await store.import_directory(
        ImportBatch(
            uai=uai,
            school_name=school_name,
            timezone=timezone,
            people=rows,
            school_links=_school_links,
            class_links=class_links,
        ),
        now_ms,
    )
    if parsed.levels:
        # The ``niveau`` column: kindergarten and primary classes (not audited,
        # as the import itself is not: the operator's file says so).
        view = await store.load_school(result.school.id)
        by_name = {c.name: c.id for c in view.classes.values()} if view else {}
        for class_name, level in sorted(parsed.levels.items()):
            if class_name in by_name:
                await store.set_class_level(
                    result.school.id, by_name[class_name], level, None, now_ms)
    emails = {p.external_id: p.email for p in parsed.people if p.email}
    if emails:
        # The ``courriel`` column: where notification e-mails go.
        view = await store.load_school(result.school.id)
        ids = {p.external_id: p.id for p in view.people.values()} if view else {}
        await store.set_emails(result.school.id, {
            ids[ext]: email for ext, email in emails.items() if ext in ids}, now_ms)
    by_id = {p.external_id: p for p in parsed.people}
    created = [
        NewAccount(
            account=acc,
            display_name=f"{by_id[acc.external_id].first_name} {by_id[acc.external_id].last_name}",
            profile=by_id[acc.external_id].profile,
            activation_code=codes[acc.external_id],
        )
        for acc in result.created
    ]
    report = ImportReport(
        school=result.school,
        created=created,
        updated=result.updated,
        classes_created=result.classes_created,
        errors=in_order(errors),
        archived_rooms=archived,
    )
    # Anyone listed who was closed (left last year, back now) is reopened;
    # a rollover also closes those who are not listed.
    closed = await PrivacyStore(store.engine).close_departed(
        result.school.id, {row.external_id for row in rows}, now_ms,
        close_absent=rollover is not None,
    )
    report.closed = [person_id for person_id, _ in closed]
    report.revoked_sessions = [h for _, hashes in closed for h in hashes]
    return report
