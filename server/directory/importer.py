"""Apply a parsed directory CSV to the store: one transaction, codes for new accounts."""

from __future__ import annotations

from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from server.auth import tokens
from server.directory.csv_import import ParsedImport
from server.directory.model import Profile, School
from server.directory.rules import default_rules
from server.errors import bad_request
from server.store import CreatedAccount, ImportBatch, Link, PersonRow, Store


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
    errors: list[tuple[int, str]] = field(default_factory=list)


def _school_links(school_id: str) -> list[Link]:
    return sorted(default_rules(school_id, ()).links)


def _class_links(school_id: str, class_id: str) -> list[Link]:
    # Pupils of a class may talk to each other: a self-link on their group.
    rules = default_rules(school_id, [class_id])
    return sorted((group, group) for group in rules.internal)


async def import_directory(
    store: Store,
    parsed: ParsedImport,
    *,
    uai: str,
    school_name: str,
    timezone: str,
    activation_ttl_s: int,
    now_ms: int,
) -> ImportReport:
    """Import the good rows of ``parsed``; its bad rows (and parents of unknown
    children) come back in ``errors`` with their line numbers."""
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
    rows: list[PersonRow] = []
    codes: dict[str, str] = {}
    expires = now_ms + activation_ttl_s * 1000
    for person in parsed.people:
        unknown = [c for c in person.parent_of if c not in pupils]
        if unknown:
            errors.append((person.line, "unknown child id(s): " + ", ".join(unknown)))
            continue
        code = tokens.new_activation_code()
        codes[person.external_id] = code
        rows.append(PersonRow(
            external_id=person.external_id,
            profile=person.profile,
            first_name=person.first_name,
            last_name=person.last_name,
            class_names=person.class_names,
            parent_of=person.parent_of,
            is_admin=person.is_admin,
            activation_hash=tokens.digest(code),
            activation_expires_ms=expires,
        ))
    result = await store.import_directory(
        ImportBatch(
            uai=uai,
            school_name=school_name,
            timezone=timezone,
            people=rows,
            school_links=_school_links,
            class_links=_class_links,
        ),
        now_ms,
    )
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
    return ImportReport(
        school=result.school,
        created=created,
        updated=result.updated,
        classes_created=result.classes_created,
        errors=sorted(errors),
    )
