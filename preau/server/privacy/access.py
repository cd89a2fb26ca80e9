"""Who may exercise whose rights: pure functions, checked on every request.

- a person over their own data;
- a parent over their child's (the guardianship in the school's directory);
- a school admin over anyone of their school (a request made to the school,
  the data-protection officer's work).

Reading the access journal and the retention status is for the school's
admins only.
"""

from __future__ import annotations

from preau.server.directory.model import Member, Profile


def may_act_for(viewer: Member, target_id: str, target_school_id: str) -> bool:
    """May ``viewer`` export or erase the data of ``target_id``?"""
    if viewer.id == target_id:
        return True
    if target_id in viewer.children:
        return True
    return viewer.is_admin and viewer.school_id == target_school_id


def may_oversee(viewer: Member, school_id: str) -> bool:
    """May ``viewer`` read the school's access journal and retention status?"""
    return viewer.is_admin and viewer.school_id == school_id


def journaled(viewer: Member, target_id: str) -> bool:
    """Is reading ``target_id``'s data by ``viewer`` written to the access journal?
    Everything but a person reading their own."""
    return viewer.id != target_id


def oversight_read(viewer: Member) -> bool:
    """Is ``viewer`` reading a moderation view as staff (teacher, staff, admin)?"""
    return viewer.is_admin or viewer.profile in (Profile.TEACHER, Profile.STAFF)
