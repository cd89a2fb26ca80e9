"""REST for the notification centre (docs/protocol.md, "Notifications"): one's
notifications, newest first, with the unread count; marking them read."""

from __future__ import annotations

from typing import Annotated, Any, Self

from pydantic import BaseModel, Field, StrictBool, StrictStr, model_validator
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from preau.server.errors import bad_request
from preau.server.http.common import Strict, json_body, member_of, path_id, query_int, services
from preau.server.http.openapi import Endpoint
from preau.server.notifications.service import PAGE_MAX

NotificationId = Annotated[StrictStr, Field(min_length=1, max_length=64)]


class NotificationOut(BaseModel):
    id: str
    kind: str
    at: int
    read: bool
    by: dict[str, str] | None
    seq: int | None
    room: dict[str, str] | None
    data: dict[str, Any] | None = None


class NotificationsOut(BaseModel):
    notifications: list[NotificationOut]
    unread: int
    next: str | None


class MarkReadBody(Strict):
    """Either ``ids`` (up to 200 of one's notifications) or ``all: true``."""

    ids: Annotated[list[NotificationId], Field(max_length=200)] | None = None
    all: StrictBool = False

    @model_validator(mode="after")
    def _one(self) -> Self:
        if (self.ids is None) == (not self.all):
            raise ValueError("give either ids or all: true")
        return self


class MarkReadOut(BaseModel):
    read: list[str]
    unread: int


Name = Annotated[StrictStr, Field(min_length=1, max_length=32)]


class PreferencesBody(Strict):
    """``{kind: channel}``: ``in_app``, ``email``, ``daily``, ``weekly``,
    ``never``, or null (back to the default)."""

    channels: Annotated[dict[Name, Name | None], Field(min_length=1, max_length=20)]


class SchoolRulesBody(Strict):
    """``forced``: ``{kind: "on" | "off" | null}``: force a kind on (nobody
    may turn it off), off (nobody is told), or let people decide.
    ``excerpt``: a short excerpt of private messages and announcements in
    adults' mails and pushes (off by default). At least one of them."""

    forced: Annotated[dict[Name, Name | None], Field(default_factory=dict, max_length=20)]
    excerpt: StrictBool | None = None

    @model_validator(mode="after")
    def _something(self) -> Self:
        if not self.forced and self.excerpt is None:
            raise ValueError("give forced, excerpt or both")
        return self


class LanguageBody(Strict):
    language: Annotated[StrictStr, Field(min_length=2, max_length=2)]


async def my_language(request: Request) -> Response:
    member = await member_of(request)
    return JSONResponse(await services(request).notifications.language(member))


async def set_my_language(request: Request) -> Response:
    member = await member_of(request)
    body = await json_body(request, LanguageBody)
    return JSONResponse(await services(request).notifications.set_language(
        member, body.language))


async def my_preferences(request: Request) -> Response:
    member = await member_of(request)
    return JSONResponse(await services(request).notifications.preferences(member))


async def set_my_preferences(request: Request) -> Response:
    member = await member_of(request)
    body = await json_body(request, PreferencesBody)
    return JSONResponse(
        await services(request).notifications.set_preferences(member, body.channels))


async def school_rules(request: Request) -> Response:
    member = await member_of(request)
    return JSONResponse(await services(request).notifications.school_rules(
        member, path_id(request, "school")))


async def set_school_rules(request: Request) -> Response:
    member = await member_of(request)
    body = await json_body(request, SchoolRulesBody)
    return JSONResponse(await services(request).notifications.set_school_rules(
        member, path_id(request, "school"), body.forced, body.excerpt))


_UNSUBSCRIBE_PAGE = """<!doctype html><html lang="fr"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Préau : courriels de notification</title></head><body><main>
<h1>Courriels de notification</h1><p>{fr}</p><p lang="en">{en}</p>{form}</main></body></html>"""


DIGESTS = ("daily", "weekly")  # what an unsubscribe link stops when it is a digest's


def _unknown_unsubscribe() -> Response:
    return HTMLResponse(_UNSUBSCRIBE_PAGE.format(
        fr="Ce lien n'est pas (ou plus) valable.", en="This link is not (or no longer) "
        "valid.", form=""), status_code=404)


async def unsubscribe_page(request: Request) -> Response:
    """The mail's link (no login): a page with one button, so that a link
    checker following links does not unsubscribe anybody. A digest's link
    says so (it stops the kinds in that digest); an unknown one: 404."""
    subject = await services(request).notifications.unsubscribe_subject(
        request.path_params["token"])
    if subject is None:
        return _unknown_unsubscribe()
    if subject in DIGESTS:
        return HTMLResponse(_UNSUBSCRIBE_PAGE.format(
            fr="Ne plus recevoir par courriel les sortes de notification que ce résumé "
               "regroupe ? Vous les verrez toujours dans Préau.",
            en="Stop e-mails for the kinds of notification this digest gathers? You will "
               "still see them in Préau.",
            form='<form method="post"><button type="submit">Ne plus recevoir ces résumés'
                 ' — Stop these digests</button></form>'))
    return HTMLResponse(_UNSUBSCRIBE_PAGE.format(
        fr="Ne plus recevoir de courriel pour cette sorte de notification ? Vous la "
           "verrez toujours dans Préau.",
        en="Stop e-mails for this kind of notification? You will still see it in Préau.",
        form='<form method="post"><button type="submit">Ne plus recevoir ces courriels'
             ' — Stop these e-mails</button></form>'))


async def unsubscribe(request: Request) -> Response:
    """One click (RFC 8058), no login: the mail's kind goes back to the app
    only (a digest's link: the kinds in that digest)."""
    done = await services(request).notifications.unsubscribe(request.path_params["token"])
    if done is None:
        return _unknown_unsubscribe()
    if done in DIGESTS:
        return HTMLResponse(_UNSUBSCRIBE_PAGE.format(
            fr="C'est fait : vous ne recevrez plus de courriel pour les sortes de "
               "notification que ce résumé regroupait.",
            en="Done: you will get no more e-mails for the kinds of notification this "
               "digest gathered.", form=""))
    return HTMLResponse(_UNSUBSCRIBE_PAGE.format(
        fr="C'est fait : vous ne recevrez plus de courriel pour cette sorte de notification.",
        en="Done: you will get no more e-mails for this kind of notification.", form=""))


class PushKeys(Strict):
    p256dh: Annotated[StrictStr, Field(min_length=1, max_length=200)]
    auth: Annotated[StrictStr, Field(min_length=1, max_length=200)]


class PushSubscribeBody(Strict):
    """A browser's ``PushSubscription.toJSON()``, and a name for the device."""

    endpoint: Annotated[StrictStr, Field(min_length=1, max_length=4096)]
    keys: PushKeys
    expirationTime: int | None = None
    label: Annotated[StrictStr, Field(max_length=200)] = ""


class PushDeviceOut(BaseModel):
    id: str
    endpoint: str
    label: str
    since: int
    last_ok: int | None


class PushDevicesOut(BaseModel):
    devices: list[PushDeviceOut]


class PushKeyOut(BaseModel):
    public_key: str


async def push_key(request: Request) -> Response:
    await member_of(request)
    return JSONResponse(await services(request).push.public_key())


async def push_devices(request: Request) -> Response:
    member = await member_of(request)
    return JSONResponse(await services(request).push.devices(member))


async def push_subscribe(request: Request) -> Response:
    member = await member_of(request)
    body = await json_body(request, PushSubscribeBody)
    return JSONResponse(await services(request).push.subscribe(
        member, body.endpoint, body.keys.p256dh, body.keys.auth, body.label), status_code=201)


async def push_unsubscribe(request: Request) -> Response:
    member = await member_of(request)
    await services(request).push.unsubscribe(member, path_id(request, "device"))
    return JSONResponse({})


class EmailBody(Strict):
    email: Annotated[StrictStr, Field(min_length=3, max_length=254)]


async def my_email(request: Request) -> Response:
    member = await member_of(request)
    return JSONResponse(await services(request).email.my_email(member))


async def change_my_email(request: Request) -> Response:
    member = await member_of(request)
    body = await json_body(request, EmailBody)
    return JSONResponse(await services(request).email.request_change(member, body.email),
                        status_code=202)


_CONFIRM_PAGE = _UNSUBSCRIBE_PAGE.replace("courriels de notification", "adresse électronique") \
    .replace("<h1>Courriels de notification</h1>", "<h1>Adresse électronique</h1>")


def _unknown_confirmation() -> Response:
    return HTMLResponse(_CONFIRM_PAGE.format(
        fr="Ce lien n'est pas (ou plus) valable : demandez-en un autre dans « Mon compte ».",
        en="This link is not (or no longer) valid: ask for another in “My account”.",
        form=""), status_code=404)


async def confirm_email_page(request: Request) -> Response:
    """The confirmation mail's link (no login): a page with one button, so
    that a link checker following links confirms nothing; used, expired or
    unknown: the 404 page the button would give."""
    if not await services(request).email.change_pending(request.path_params["token"]):
        return _unknown_confirmation()
    form = ('<form method="post"><button type="submit">Confirmer cette adresse'
            ' — Confirm this address</button></form>')
    return HTMLResponse(_CONFIRM_PAGE.format(
        fr="Recevoir les notifications de Préau à cette adresse ?",
        en="Get Préau's notifications at this address?", form=form))


async def confirm_email(request: Request) -> Response:
    done = await services(request).email.confirm_change(request.path_params["token"])
    if not done:
        return _unknown_confirmation()
    return HTMLResponse(_CONFIRM_PAGE.format(
        fr="C'est fait : les notifications de Préau arriveront à cette adresse.",
        en="Done: Préau's notifications will go to this address.", form=""))


async def my_notifications(request: Request) -> Response:
    member = await member_of(request)
    raw_before = request.query_params.get("before")
    before: int | str | None = raw_before
    if raw_before is not None and ":" not in raw_before:
        before = query_int(request, "before", None, 1, 1 << 53)
    limit = query_int(request, "limit", 50, 1, PAGE_MAX)
    assert limit is not None
    unread = request.query_params.get("unread")
    if unread not in (None, "0", "1", "true", "false"):
        raise bad_request("unread is true or false")
    return JSONResponse(await services(request).notifications.list(
        member, before=before, limit=limit, unread_only=unread in ("1", "true")))


async def mark_read(request: Request) -> Response:
    member = await member_of(request)
    body = await json_body(request, MarkReadBody)
    return JSONResponse(await services(request).notifications.mark_read(
        member, None if body.all else body.ids))


ENDPOINTS: list[Endpoint] = [
    Endpoint("GET", "/api/notifications",
             "My notifications, newest first, and how many are unread (only what I may "
             "still read)", my_notifications, response=NotificationsOut,
             query={"before": "the next cursor of the previous page",
                    "limit": f"1 to {PAGE_MAX} (50)", "unread": "true: unread ones only"}),
    Endpoint("POST", "/api/notifications/read",
             "Mark some of my notifications read, or all of them", mark_read,
             body=MarkReadBody, response=MarkReadOut),
    Endpoint("GET", "/api/notifications/preferences",
             "How I am told of each kind: my channel, the default, what my school forces, "
             "the channels I may choose", my_preferences),
    Endpoint("PUT", "/api/notifications/preferences",
             "Choose a channel per kind (null: back to the default); pupils: in the app "
             "or never", set_my_preferences, body=PreferencesBody),
    Endpoint("GET", "/api/notifications/unsubscribe/{token}",
             "The unsubscribe link of a notification e-mail: a page with one button (no "
             "login); an unknown link: a 404 page", unsubscribe_page, auth=False),
    Endpoint("POST", "/api/notifications/unsubscribe/{token}",
             "One-click unsubscribe (RFC 8058, no login): the mail's kind of notification "
             "goes back to the app only (a digest's: the kinds in it)", unsubscribe,
             auth=False),
    Endpoint("GET", "/api/account/language",
             "The language of my notification e-mails and pushes (fr unless I chose en)",
             my_language),
    Endpoint("PUT", "/api/account/language",
             "Choose the language of my notification e-mails and pushes: fr or en (the web "
             "client sets it when I switch its language)", set_my_language, body=LanguageBody),
    Endpoint("GET", "/api/account/email",
             "My notification address, since when it bounces, and a change waiting for "
             "confirmation", my_email),
    Endpoint("PUT", "/api/account/email",
             "Change my notification address: a single-use link, valid 24 hours, is mailed "
             "to the new one (pupils: forbidden; one request a minute)", change_my_email,
             body=EmailBody),
    Endpoint("GET", "/api/account/email/confirm/{token}",
             "The confirmation link of a new address: a page with one button (no login); "
             "used, expired or unknown: a 404 page", confirm_email_page, auth=False),
    Endpoint("POST", "/api/account/email/confirm/{token}",
             "Confirm a new notification address (no login; once, before it expires)",
             confirm_email, auth=False),
    Endpoint("GET", "/api/push/key",
             "The deployment's VAPID public key (a browser subscribes with it as its "
             "applicationServerKey)", push_key, response=PushKeyOut),
    Endpoint("GET", "/api/push/devices", "My devices that receive Web Push notifications",
             push_devices, response=PushDevicesOut),
    Endpoint("POST", "/api/push/devices",
             "Subscribe this device to Web Push (its PushSubscription; the endpoint must be "
             "a push service's https URL, the keys well-formed)", push_subscribe,
             body=PushSubscribeBody, response=PushDeviceOut),
    Endpoint("DELETE", "/api/push/devices/{device}",
             "Stop pushes to one of my devices; another's is not_found", push_unsubscribe),
    Endpoint("GET", "/api/schools/{school}/notifications",
             "The kinds the school forces on or off (the school's admins)", school_rules),
    Endpoint("PUT", "/api/schools/{school}/notifications",
             "Force kinds on or off for everyone, or let people decide; a short excerpt in "
             "adults' mails and pushes, or not (the school's admins; audited as "
             "school.settings)", set_school_rules, body=SchoolRulesBody),
]
