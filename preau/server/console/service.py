"""The school admins' console (issue 19; docs/user-guide.md, "La console
d'administration"): people, classes and parent links with search; create,
edit, move, close; activation codes and letters; who has not activated;
an import previewed before it is applied.

Only the admins of the school: anyone else, and any id outside the school,
is ``not_found`` exactly like an id that does not exist. Every change is
audited in the transaction that makes it (preau/server/store/console.py,
the import's own entry), then the node reloads the school and tells the
others (``Hub.directory_changed``): live sockets are re-checked at once, so
a moved pupil leaves their old class's rooms and reaches the new one.
"""

from __future__ import annotations

import logging
import secrets
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from preau.server.auth.service import AuthService
from preau.server.clock import Clock
from preau.server.console import rules
from preau.server.console.letters import Letter, render_letters
from preau.server.directory.csv_import import (
    FRENCH_PROFILES,
    MAX_CLASS,
    ParsedImport,
    RowError,
    in_order,
    normalise_class,
    parse_csv,
    valid_email,
)
from preau.server.directory.importer import (
    ImportReport,
    Rollover,
    class_links,
    ended_school_year,
    import_directory,
)
from preau.server.directory.model import Member, Person, Profile
from preau.server.directory.service import Directory
from preau.server.directory.several import parse_files
from preau.server.errors import ErrorCode, PreauError, bad_request, not_found
from preau.server.live.hub import Hub
from preau.server.settings import Settings
from preau.server.store import Store
from preau.server.store.console import ConsoleStore
from preau.server.store.records import AuditAction, SchoolView

log = logging.getLogger(__name__)

MAX_LETTERS = 2000


@dataclass
class Preview:
    """What an import would change, before it is applied."""

    encoding: str
    created: list[dict[str, Any]] = field(default_factory=list)
    moved: list[dict[str, Any]] = field(default_factory=list)
    updated: int = 0
    closed: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    refused: bool = False  # a rollover with a rejected row is refused whole
    # Several files: what each was ({name, kind, encoding, people}).
    files: list[dict[str, Any]] = field(default_factory=list)


class ConsoleService:
    def __init__(self, store: Store, directory: Directory, hub: Hub, auth: AuthService,
                 settings: Settings, clock: Clock) -> None:
        self._store = store
        self._sql = ConsoleStore(store.engine)
        self._directory = directory
        self._hub = hub
        self._auth = auth
        self._settings = settings
        self._clock = clock

    # -- who may ------------------------------------------------------------------------
    async def _school(self, viewer: Member, school_id: str) -> SchoolView:
        if not viewer.is_admin or viewer.school_id != school_id:
            raise not_found("no such school")
        view = await self._directory.school(school_id)
        if view is None:
            raise not_found("no such school")
        return view

    async def _person(self, viewer: Member, school_id: str, person_id: str,
                      ) -> tuple[SchoolView, Person, Member]:
        view = await self._school(viewer, school_id)
        person, member = view.people.get(person_id), view.members.get(person_id)
        if person is None or member is None:
            raise not_found("no such person")
        return view, person, member

    # -- reading ------------------------------------------------------------------------
    def _card(self, view: SchoolView, person: Person, pending: dict[str, int],
              emails: dict[str, str]) -> dict[str, Any]:
        member = view.members[person.id]
        names = {c: view.classes[c].name for c in member.classes if c in view.classes}
        own = member.classes if person.profile in (Profile.PUPIL, Profile.TEACHER) else set()
        return {
            "id": person.id, "external_id": person.external_id, "login": person.login,
            "first_name": person.first_name, "last_name": person.last_name,
            "name": person.display_name, "profile": person.profile.value,
            "admin": person.is_admin, "email": emails.get(person.id),
            "classes": sorted(({"id": c, "name": names[c]} for c in own
                               if c in names and view.classes[c].kind == "class"),
                              key=lambda c: c["name"]),
            "groups": sorted(({"id": c, "name": names[c]} for c in own
                              if c in names and view.classes[c].kind == "group"),
                             key=lambda c: c["name"]),
            "children": sorted(({"id": c, "name": view.people[c].display_name}
                                for c in member.children if c in view.people),
                               key=lambda c: c["name"]),
            "guardians": sorted(({"id": g, "name": view.people[g].display_name}
                                 for g in member.guardians if g in view.people),
                                key=lambda g: g["name"]),
            "activated": person.id not in pending,
            "code_expires": pending.get(person.id) or None,
        }

    async def people(self, viewer: Member, school_id: str, *, query: str = "",
                     class_id: str | None = None, profile: str | None = None,
                     pending_only: bool = False) -> list[dict[str, Any]]:
        view = await self._school(viewer, school_id)
        if class_id is not None and class_id not in view.classes:
            raise not_found("no such class")
        pending = await self._sql.pending_people(school_id)
        emails = await self._sql.emails(school_id)
        words = [_fold(w) for w in query.split() if w]
        found = []
        for person in view.people.values():
            member = view.members[person.id]
            if profile and person.profile.value != profile:
                continue
            if class_id is not None and class_id not in member.classes:
                continue
            if pending_only and person.id not in pending:
                continue
            haystack = _fold(f"{person.first_name} {person.last_name} {person.login} "
                             f"{person.external_id}")
            if any(w not in haystack for w in words):
                continue
            found.append(self._card(view, person, pending, emails))
        found.sort(key=lambda p: (_fold(p["last_name"]), _fold(p["first_name"]), p["id"]))
        return found

    async def classes(self, viewer: Member, school_id: str) -> list[dict[str, Any]]:
        view = await self._school(viewer, school_id)
        pending = await self._sql.pending_people(school_id)
        out = []
        for klass in view.classes.values():
            pupils = [m for m in view.members.values()
                      if m.profile is Profile.PUPIL and klass.id in m.classes]
            teachers = [m for m in view.members.values()
                        if m.profile is Profile.TEACHER and klass.id in m.classes]
            out.append({"id": klass.id, "name": klass.name, "kind": klass.kind,
                        "pupils": len(pupils),
                        "teachers": len(teachers),
                        "pending": sum(1 for m in pupils if m.id in pending)})
        out.sort(key=lambda c: (c["kind"] != "class", _fold(str(c["name"]))))
        return out

    # -- changing -----------------------------------------------------------------------
    async def _changed(self, school_id: str) -> None:
        await self._hub.directory_changed(school_id)

    async def create_class(self, viewer: Member, school_id: str, name: str,
                           kind: str) -> dict[str, Any]:
        """A class (a division) or a group (options, languages), with its room."""
        await self._school(viewer, school_id)
        if kind not in ("class", "group"):
            raise bad_request("kind is class or group")
        cleaned = " ".join(name.split())
        if kind == "class":
            cleaned = normalise_class(cleaned)
        if not cleaned or len(cleaned) > MAX_CLASS or not cleaned.isprintable():
            raise bad_request(f"a class name has 1 to {MAX_CLASS} characters")
        class_id = await self._sql.create_class(school_id, cleaned, kind, class_links, viewer.id,
                                                self._clock.now_ms())
        if class_id is None:
            raise PreauError(ErrorCode.CONFLICT, "the school already has a class of that name")
        await self._changed(school_id)
        return {"id": class_id, "name": cleaned, "kind": kind}

    async def move(self, viewer: Member, school_id: str, person_id: str,
                   class_ids: list[str], group_ids: list[str] | None = None) -> None:
        """A pupil to another class (exactly one), a teacher's classes (any);
        ``group_ids``: their groups (None: unchanged)."""
        view, person, member = await self._person(viewer, school_id, person_id)
        if any(c not in view.classes for c in (*class_ids, *(group_ids or ()))):
            raise not_found("no such class")
        class_ids = list(dict.fromkeys(class_ids))
        if any(view.classes[c].kind != "class" for c in class_ids):
            raise bad_request("classes lists classes, groups go in groups")
        if group_ids is None:
            group_ids = [c for c in member.classes
                         if c in view.classes and view.classes[c].kind == "group"]
        elif any(view.classes[c].kind != "group" for c in group_ids):
            raise bad_request("groups lists groups, classes go in classes")
        group_ids = list(dict.fromkeys(group_ids))
        if person.profile is Profile.PUPIL and len(class_ids) != 1:
            raise bad_request("a pupil is in exactly one class")
        if person.profile not in (Profile.PUPIL, Profile.TEACHER):
            raise bad_request("only pupils and teachers have classes")
        details = {"from": sorted(view.classes[c].name for c in member.classes
                                  if c in view.classes),
                   "to": sorted(view.classes[c].name for c in (*class_ids, *group_ids))}
        await self._sql.set_classes(school_id, person_id, [*class_ids, *group_ids], viewer.id,
                                    self._clock.now_ms(), details)
        await self._changed(school_id)

    async def set_children(self, viewer: Member, school_id: str, person_id: str,
                           child_ids: list[str]) -> None:
        view, person, _ = await self._person(viewer, school_id, person_id)
        if person.profile is not Profile.PARENT:
            raise bad_request("only parents have children")
        child_ids = list(dict.fromkeys(child_ids))
        for child in child_ids:
            found = view.people.get(child)
            if found is None:
                raise not_found("no such person")
            if found.profile is not Profile.PUPIL:
                raise bad_request("a parent's children are pupils")
        if not child_ids:
            raise bad_request("a parent needs at least one child")
        await self._sql.set_children(school_id, person_id, child_ids, viewer.id,
                                     self._clock.now_ms())
        await self._changed(school_id)

    async def edit(self, viewer: Member, school_id: str, person_id: str, *,
                   first_name: str | None = None, last_name: str | None = None,
                   admin: bool | None = None, email: str | None = None) -> None:
        """``email``: "" removes the address."""
        _, person, _ = await self._person(viewer, school_id, person_id)
        first = _name(first_name) if first_name is not None else None
        last = _name(last_name) if last_name is not None else None
        if admin is not None and person_id == viewer.id and not admin:
            raise bad_request("an admin cannot remove their own admin right")
        address = None
        if email:
            address = valid_email(email)
            if address is None:
                raise bad_request("not a valid e-mail address")
            if person.profile is Profile.PUPIL:
                raise bad_request("no e-mail address for a pupil")
        await self._sql.edit_person(
            school_id, person_id, viewer.id, self._clock.now_ms(), first_name=first,
            last_name=last, is_admin=admin, email=address, clear_email=email == "")
        await self._changed(school_id)

    async def close(self, viewer: Member, school_id: str, person_id: str,
                    reason: str | None) -> None:
        await self._person(viewer, school_id, person_id)
        if person_id == viewer.id:
            raise bad_request("an admin cannot close their own account")
        revoked = await self._sql.close_person(school_id, person_id, viewer.id,
                                               self._clock.now_ms(), reason)
        await self._changed(school_id)
        await self._hub.revoke_sessions(revoked, account_closed=True)

    async def create(self, viewer: Member, school_id: str, *, profile: str, first_name: str,
                     last_name: str, class_ids: list[str], children: list[str],
                     email: str | None, admin: bool) -> dict[str, Any]:
        """A new account; its activation code is given once, in the answer."""
        view = await self._school(viewer, school_id)
        try:
            kind = Profile(profile)
        except ValueError:
            raise bad_request("unknown profile") from None
        if any(c not in view.classes for c in class_ids):
            raise not_found("no such class")
        if any(c not in view.people or view.people[c].profile is not Profile.PUPIL
               for c in children):
            raise not_found("no such person")
        line = "id;profile;last_name;first_name;classes;parent_of;admin;email;groupes\n{}\n"
        external = f"C{secrets.token_hex(6).upper()}"
        of_kind = {k: "|".join(_csv(view.classes[c].name) for c in class_ids
                               if view.classes[c].kind == k) for k in ("class", "group")}
        cells = [external, kind.value, _csv(last_name), _csv(first_name), of_kind["class"],
                 "|".join(view.people[c].external_id for c in children),
                 "oui" if admin else "non", _csv(email or ""), of_kind["group"]]
        parsed = parse_csv(line.format(";".join(cells)))
        if parsed.errors:
            raise bad_request(parsed.errors[0].shown("en"))
        report = await self._import(view, parsed, None)
        if not report.created:
            raise bad_request(report.errors[0].shown("en") if report.errors else "not created")
        account = report.created[0]
        await self._sql.audit_action(school_id, viewer.id, AuditAction.PERSON_CREATE,
                                     self._clock.now_ms(), account.account.person_id)
        await self._changed(school_id)
        return {"id": account.account.person_id, "login": account.account.login,
                "code": account.activation_code,
                "expires": self._clock.now_ms() + self._settings.activation_ttl_s * 1000}

    # -- communication rules --------------------------------------------------------------
    async def rules(self, viewer: Member, school_id: str) -> dict[str, Any]:
        """The school's groups and links (preau/server/console/rules.py)."""
        view = await self._school(viewer, school_id)
        return rules.described(view, await self._sql.links(school_id))

    async def set_link(self, viewer: Member, school_id: str, from_group: str, to_group: str,
                       present: bool) -> dict[str, Any]:
        """Add or remove the link from one group to another (audited when it
        changed anything); every node re-checks the rights at once, as after
        any directory change (Hub.directory_changed)."""
        view = await self._school(viewer, school_id)
        known = {g["id"]: g for g in rules.groups(view)}
        if from_group not in known or to_group not in known:
            raise not_found("no such group")
        between = f"{_group_label(known[from_group])} → {_group_label(known[to_group])}"
        details = {"from": from_group, "to": to_group, "between": between}
        changed = await self._sql.set_link(school_id, (from_group, to_group), present,
                                           viewer.id, self._clock.now_ms(), details)
        if changed:
            await self._changed(school_id)
        return {"changed": changed}

    async def reset_rules(self, viewer: Member, school_id: str) -> dict[str, Any]:
        """The school's links back to the defaults for its classes and groups."""
        view = await self._school(viewer, school_id)
        added, removed = await self._sql.reset_links(school_id, rules.defaults(view), viewer.id,
                                                     self._clock.now_ms())
        if added or removed:
            await self._changed(school_id)
        return {"added": added, "removed": removed}

    # -- codes and letters --------------------------------------------------------------
    async def letters(self, viewer: Member, school_id: str, *, people: list[str],
                      class_id: str | None) -> bytes:
        """A new activation code for each person named, or for everyone of a
        class (its pupils and their parents) who has not activated yet, and
        their letters as one PDF. A new code ends a person's password and
        sessions: that is why a class's letters skip those who activated."""
        view = await self._school(viewer, school_id)
        pending = await self._sql.pending_people(school_id)
        chosen: list[str] = []
        if class_id is not None:
            if class_id not in view.classes:
                raise not_found("no such class")
            pupils = [m for m in view.members.values()
                      if m.profile is Profile.PUPIL and class_id in m.classes]
            ids = {m.id for m in pupils} | {g for m in pupils for g in m.guardians}
            chosen = [i for i in ids if i in pending and i in view.people
                      and self._local_password(view, i)]
        for person_id in people:
            if person_id not in view.people or person_id == viewer.id:
                raise not_found("no such person")
            if not self._local_password(view, person_id):
                raise bad_request("this person signs in through the school's portal: "
                                  "no activation code")
            chosen.append(person_id)
        chosen = list(dict.fromkeys(chosen))
        if len(chosen) > MAX_LETTERS:
            raise bad_request(f"at most {MAX_LETTERS} letters at once")

        def order(person_id: str) -> tuple[str, str, str]:
            member = view.members[person_id]
            person = view.people[person_id]
            # Parents next to their child: sort by the child's name.
            anchor = min((view.people[c] for c in member.children if c in view.people),
                         key=lambda p: (_fold(p.last_name), _fold(p.first_name)),
                         default=person)
            return (_fold(anchor.last_name), _fold(anchor.first_name),
                    "1" if person.profile is Profile.PARENT else "0")

        letters = []
        for person_id in sorted(chosen, key=order):
            person, member = view.people[person_id], view.members[person_id]
            code = await self._auth.issue_activation_code(person_id, by=(school_id, viewer.id))
            expires = self._clock.now_ms() + self._settings.activation_ttl_s * 1000
            classes = ", ".join(sorted(view.classes[c].name for c in member.classes
                                       if c in view.classes))
            letters.append(Letter(person.display_name, FRENCH_PROFILES[person.profile],
                                  classes, person.login, code, expires))
        if not letters:
            raise bad_request("nobody to write to: everyone has activated their account")
        await self._changed(school_id)  # activated → pending again, for those named
        return render_letters(view.school.name, self._settings.public_url,
                              view.school.timezone, letters)

    def _local_password(self, view: SchoolView, person_id: str) -> bool:
        """Does this person's profile use a password here (not single sign-on
        only)? An activation code is for those who do."""
        return self._auth.password_allowed(view.school.uai, view.people[person_id].profile.value)

    # -- imports ------------------------------------------------------------------------
    async def _import(self, view: SchoolView, parsed: ParsedImport,
                      rollover: Rollover | None) -> ImportReport:
        school = view.school
        return await import_directory(
            self._store, parsed, uai=school.uai, school_name=school.name,
            timezone=school.timezone, activation_ttl_s=self._settings.activation_ttl_s,
            now_ms=self._clock.now_ms(), rollover=rollover)

    async def preview(self, viewer: Member, school_id: str, files: list[tuple[str, bytes]],
                      rollover: bool) -> Preview:
        """What importing ``files`` ((name, content) pairs: one file, or
        several read as one, preau/server/directory/several.py) would do;
        nothing is written."""
        view = await self._school(viewer, school_id)
        parsed = parse_files(files)
        result = Preview(encoding=parsed.encoding, files=[
            {"name": f.name, "kind": f.kind, "encoding": f.encoding, "people": f.people}
            for f in parsed.files])
        by_external = {p.external_id: p for p in view.people.values()}
        names = {c.id: c.name for c in view.classes.values()}
        pupils = {p.external_id for p in parsed.people if p.profile is Profile.PUPIL}
        pupils |= {p.external_id for p in view.people.values() if p.profile is Profile.PUPIL}
        errors = list(parsed.errors)
        listed: set[str] = set()
        for row in parsed.people:
            unknown = [c for c in row.parent_of if c not in pupils]
            if unknown:
                errors.append(row.error(
                    "unknown child id(s): " + ", ".join(unknown), "parent_de",
                    "enfant(s) inconnu(s) : " + ", ".join(unknown)))
                continue
            listed.add(row.external_id)
            entry = {"line": row.line, "external_id": row.external_id,
                     "name": f"{row.first_name} {row.last_name}", "profile": row.profile.value,
                     "classes": [*row.class_names, *row.groups]}
            known = by_external.get(row.external_id)
            if known is None:
                result.created.append(entry)
                continue
            result.updated += 1
            if row.profile in (Profile.PUPIL, Profile.TEACHER):
                before = sorted(names[c] for c in view.members[known.id].classes if c in names)
                after = sorted([*(normalise_class(c) for c in row.class_names), *row.groups])
                if before != after:
                    result.moved.append({**entry, "classes": after, "from": before})
        if rollover:
            result.closed = [
                {"external_id": p.external_id, "name": p.display_name,
                 "profile": p.profile.value}
                for p in sorted(view.people.values(), key=lambda p: _fold(p.display_name))
                if p.external_id not in listed]
            result.refused = bool(errors)
        result.rejected = [_rejected(e) for e in in_order(errors)]
        return result

    async def apply(self, viewer: Member, school_id: str, files: list[tuple[str, bytes]],
                    rollover: bool) -> dict[str, Any]:
        view = await self._school(viewer, school_id)
        parsed = parse_files(files)
        now = self._clock.now_ms()
        year = (Rollover(ended_school_year(now), self._settings.archived_rooms_days)
                if rollover else None)
        report = await self._import(view, parsed, year)
        if year is not None and report.errors:
            raise bad_request("a rollover with rejected rows is refused whole: fix them first")
        summary = {"created": len(report.created), "updated": report.updated,
                   "classes_created": report.classes_created, "closed": len(report.closed),
                   "rejected": len(report.errors)}
        await self._sql.audit_action(school_id, viewer.id, AuditAction.DIRECTORY_IMPORT, now,
                                     details={**summary, "rollover": rollover,
                                              "encoding": parsed.encoding,
                                              "files": [f.name for f in parsed.files]})
        await self._changed(school_id)
        await self._hub.revoke_sessions(report.revoked_sessions, account_closed=True)  # closed ones
        return {**summary, "rejected_rows": [_rejected(e) for e in report.errors]}


def _rejected(error: RowError) -> dict[str, Any]:
    return {"line": error.line, "field": error.field, "file": error.file,
            "message_fr": error.shown("fr"), "message_en": error.shown("en")}


def _group_label(group: dict[str, Any]) -> str:
    """``teacher of 6eA`` (the audit's details, read by the journal)."""
    return f"{group['profile']} of {group['scope_name']}"


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _name(value: str) -> str:
    cleaned = " ".join(value.split())
    if not cleaned or len(cleaned) > 100 or any(ord(c) < 32 for c in cleaned):
        raise bad_request("a name is 1 to 100 characters")
    return cleaned


def _csv(value: str) -> str:
    """A cell of the one-row CSV ``create`` builds: its separators are refused."""
    if any(c in value for c in ";|\n\r\""):
        raise bad_request("names and classes may not contain ; | or quotes")
    return value.strip()
