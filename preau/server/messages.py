"""The words of an error, in the language of the request (French unless the
request asks for English).

Error *codes* are the protocol; clients show their own text for each
(clients/web/src/i18n.ts). The *message* beside the code is for a person too
(the web client puts it in "Mot de passe trop faible : {message}"), so it
must never be English in a French interface: services raise their message in
English (logs, tests, the SDK), and the transports (HTTP error responses,
``/ws`` error replies) localise it here. A message this catalogue does not
know becomes the generic French text of its code: never English.

The language: ``Accept-Language`` (its best-weighted ``fr`` or ``en``), or
``?lang=fr|en`` on ``/ws`` (a browser cannot set a socket's headers).
"""

from __future__ import annotations

import re
from typing import Literal

from preau.server.errors import ErrorCode

Lang = Literal["fr", "en"]
DEFAULT: Lang = "fr"

# The generic French text of each code: what a message not in the
# catalogue below becomes.
GENERIC: dict[ErrorCode, str] = {
    ErrorCode.BAD_REQUEST: "demande invalide",
    ErrorCode.UNKNOWN_OP: "opération inconnue",
    ErrorCode.UNAUTHENTICATED: "connectez-vous d'abord",
    ErrorCode.INVALID_CREDENTIALS: "identifiant, mot de passe ou code incorrect",
    ErrorCode.ACTIVATION_REQUIRED: "ce compte doit d'abord être activé avec son code",
    ErrorCode.ACTIVATION_EXPIRED: "ce code d'activation a expiré",
    ErrorCode.ACTIVATION_USED: "ce code d'activation a déjà servi",
    ErrorCode.WEAK_PASSWORD: "mot de passe refusé",
    ErrorCode.PASSWORD_LOGIN_OFF: "la connexion par mot de passe est désactivée pour ce profil",
    ErrorCode.SSO_REFUSED: "aucun compte Préau ne correspond à cette identité",
    ErrorCode.SSO_FAILED: "la connexion par le portail n'a pas abouti",
    ErrorCode.FORBIDDEN: "action non autorisée",
    ErrorCode.NOT_FOUND: "introuvable",
    ErrorCode.NOT_SUBSCRIBED: "ouvrez d'abord la salle",
    ErrorCode.CONFLICT: "déjà traité autrement",
    ErrorCode.MUTED: "vous êtes muet·te dans cette salle",
    ErrorCode.TOO_LARGE: "trop long ou trop gros",
    ErrorCode.RATE_LIMITED: "trop de demandes : réessayez dans un instant",
    ErrorCode.SUSPENDED: "la messagerie est suspendue pour le moment",
    ErrorCode.CLOSED: "cette conversation est fermée : elle ne peut plus que se relire",
    ErrorCode.FILTERED: "ce message contient des mots interdits dans l'établissement",
    ErrorCode.NOT_IN_CALL: "vous n'êtes plus dans cette visio",
    ErrorCode.CALL_FULL: "cette visio est complète",
    ErrorCode.CALL_ENDED: "cette visio est terminée",
    ErrorCode.CHARTER_REQUIRED: "acceptez d'abord la charte d'utilisation",
    ErrorCode.UNAVAILABLE: "service momentanément indisponible : réessayez",
    ErrorCode.INTERNAL: "erreur interne",
    ErrorCode.ATTACHMENT_TOO_LARGE: "fichier trop gros",
    ErrorCode.ATTACHMENT_QUOTA: "espace de stockage des pièces jointes plein",
    ErrorCode.ATTACHMENT_LENGTH_REQUIRED: "taille du fichier manquante",
    ErrorCode.ATTACHMENT_TRUNCATED: "fichier incomplet : envoyez-le de nouveau",
    ErrorCode.ATTACHMENT_PENDING: "fichier en cours d'analyse antivirus : réessayez plus tard",
    ErrorCode.ATTACHMENT_TYPE_REFUSED: "ce type de fichier n'est pas accepté",
    ErrorCode.ATTACHMENT_TYPE_MISMATCH: "le contenu du fichier ne correspond pas à son type",
    ErrorCode.ATTACHMENT_INFECTED: "fichier refusé : l'antivirus y a trouvé un virus",
    ErrorCode.ATTACHMENT_IMAGE_INVALID: "image illisible",
    ErrorCode.ATTACHMENT_IMAGE_TOO_LARGE: "image trop grande",
    ErrorCode.ATTACHMENT_NAME_INVALID: "nom de fichier invalide",
}

# Messages people meet, word for word (preau/server/auth/passwords.py,
# preau/server/directory/quiet_hours.py, the services).
EXACT: dict[str, str] = {
    "at least 8 characters": "au moins 8 caractères",
    "at most 128 characters": "au plus 128 caractères",
    "no control or invisible characters": "pas de caractère de contrôle ni invisible",
    "at least 3 kinds of characters among lower case, upper case, digits, symbols":
        "au moins 3 sortes de caractères parmi : minuscules, majuscules, chiffres, symboles",
    "too common: avoid well-known words and keyboard sequences":
        "trop courant : évitez les mots connus et les suites de touches du clavier",
    "it must not contain your login or your name":
        "il ne doit contenir ni votre identifiant ni votre nom",
    "quiet hours are 'HH:MM-HH:MM' (the delivery window), or 'off'":
        "les heures de remise s'écrivent HH:MM-HH:MM, ou « off »",
    "the delivery window is empty: use 'off' for no quiet hours":
        "la plage de remise est vide : choisissez « off » pour n'en avoir aucune",
    "log in first": "connectez-vous d'abord",
    "a pupil is in exactly one class": "un élève est dans une classe et une seule",
    "only pupils and teachers have classes": "seuls les élèves et les enseignants ont des classes",
    "classes lists classes, groups go in groups":
        "« classes » liste des classes ; les groupes vont dans « groups »",
    "groups lists groups, classes go in classes":
        "« groups » liste des groupes ; les classes vont dans « classes »",
    "only parents have children": "seuls les parents ont des enfants",
    "a parent's children are pupils": "les enfants d'un parent sont des élèves",
    "a parent needs at least one child": "un parent a au moins un enfant",
    "an admin cannot remove their own admin right":
        "un administrateur ne peut pas se retirer lui-même ce droit",
    "no e-mail address for a pupil": "pas d'adresse électronique pour un élève",
    "an admin cannot close their own account":
        "un administrateur ne peut pas fermer son propre compte",
    "unknown profile": "profil inconnu",
    "its author is no longer in this room: it will not be delivered":
        "son auteur ne fait plus partie de ce salon : il ne sera pas distribué",
    "its author is no longer in this room: reject it":
        "son auteur ne fait plus partie de ce salon : refusez-le",
    "nobody to write to: everyone has activated their account":
        "personne à qui écrire : tout le monde a activé son compte",
    "a rollover with rejected rows is refused whole: fix them first":
        "une nouvelle année scolaire avec des lignes refusées n'est pas appliquée : "
        "corrigez-les d'abord",
    "name people or a class": "indiquez des personnes ou une classe",
    "the file is empty": "le fichier est vide",
    "this person signs in through the school's portal: no activation code":
        "cette personne se connecte par le portail de l'établissement : pas de code "
        "d'activation",
    "kind is class or group": "le genre est class ou group",
    "a class name has 1 to 40 characters": "un nom de classe fait de 1 à 40 caractères",
    "the school already has a class of that name":
        "l'établissement a déjà une classe ou un groupe de ce nom",
    "a name is 1 to 100 characters": "un nom fait de 1 à 100 caractères",
    "names and classes may not contain ; | or quotes":
        "les noms et les classes ne contiennent ni « ; », ni « | », ni guillemets",
    "q has at most 100 characters": "la recherche fait 100 caractères au plus",
    "profile is pupil, teacher, parent or staff":
        "le profil est pupil, teacher, parent ou staff",
    "rollover is 0 or 1": "rollover vaut 0 ou 1",
    "pending is 0 or 1": "pending vaut 0 ou 1",
    "this recovery link is unknown, used or expired: ask for a new one":
        "ce lien n'est pas valable (inconnu, déjà utilisé ou expiré) : demandez-en un nouveau",
    "too many recovery requests: try again later":
        "trop de demandes de nouveau mot de passe : réessayez plus tard",
    "wrong login or password": "identifiant ou mot de passe incorrect",
    "wrong login or code": "identifiant ou code incorrect",
    "the current password is wrong": "le mot de passe actuel est incorrect",
    "too many failed logins from this network, try later":
        "trop d'échecs de connexion depuis ce réseau : réessayez plus tard",
    "too many failed attempts on this login: wait before trying again":
        "trop d'essais manqués pour cet identifiant : attendez avant de réessayer",
    "you are muted in this room": "vous êtes muet·te dans cette salle",
    "only its author may edit a message": "seul son auteur peut modifier un message",
    "too late to edit this message": "trop tard pour modifier ce message",
    "messages are reviewed before they appear here: recall it and send it again":
        "ici, les messages sont relus avant de paraître : retirez-le et envoyez-le à nouveau",
    "this room is read-only": "cette salle est en lecture seule",
    "only moderators post in this room": "seuls les enseignants écrivent dans cette salle",
    # Reactions (preau/server/chat/reactions.py, decide_reaction).
    "only moderators react in this room": "seuls les enseignants réagissent dans cette salle",
    "only its author and the room's moderators see who reacted":
        "seuls l'auteur du message et les enseignants de la salle voient qui a réagi",
    "no such message": "message introuvable",
    "reaction is one of like, love, laugh, wow, sad, bravo":
        "réaction inconnue : j'aime, j'adore, drôle, étonnant, triste ou bravo",
    "this conversation is closed: it is read-only now":
        "cette conversation est fermée : elle ne peut plus que se relire",
    "no video server (SFU) is configured here: calls stay in mesh mode":
        "pas de serveur vidéo dans cet établissement : le mode grande classe n'est pas disponible",
    "cross-site request": "demande venue d'un autre site",
    # Single sign-on (preau/server/sso/service.py, preau/server/auth/service.py).
    "password login is turned off for your profile: sign in with your school's portal":
        "la connexion par mot de passe est désactivée pour votre profil : utilisez le bouton"
        " « Se connecter avec … » de votre établissement",
    "no Préau account matches this identity: ask your school":
        "aucun compte Préau ne correspond à cette identité : adressez-vous à votre"
        " établissement (rien n'a été créé)",
    "the sign-in through the portal did not complete: try again":
        "la connexion par le portail n'a pas abouti : recommencez",
    "no such identity provider": "fournisseur d'identité inconnu",
    "the web client is not built: run ./scripts/serve, or `npm ci && npm run build` in clients/web":
        "l'application web n'est pas construite : lancez ./scripts/serve, "
        "ou `npm ci && npm run build` dans clients/web",
    "no such route": "adresse inconnue",
    # Web Push subscriptions (preau/server/notifications/push.py): "field: reason".
    "a push service's https:// URL": "l'adresse https:// d'un service de notifications push",
    "not a URL": "ce n'est pas une adresse web",
    "a push service's host name, not an address":
        "le nom d'un service de notifications push, pas une adresse IP",
    "not a push service this server sends to":
        "ce service de notifications push n'est pas accepté par ce serveur",
    "a P-256 public key (65 bytes, base64url)": "une clé publique P-256 (65 octets, base64url)",
    "16 bytes, base64url": "16 octets, base64url",
    "at most 80 printable characters": "au plus 80 caractères imprimables",
    "at most 2048 characters": "au plus 2048 caractères",
    "no such device": "appareil introuvable",
    "fr or en": "fr ou en",
    "give forced, excerpt or both": "donnez forced, excerpt, ou les deux",
    "not a valid e-mail address": "adresse électronique invalide",
    "pupils receive no e-mail": "les élèves ne reçoivent pas de courriel",
    "e-mail is not configured on this server":
        "l'envoi de courriels n'est pas configuré sur ce serveur",
    "one request a minute: wait a little": "une demande par minute : patientez un peu",
    "the confirmation e-mail could not be sent: try again later":
        "le courriel de confirmation n'a pas pu partir : réessayez plus tard",
}

# Messages with a value in them: (English pattern, French template).
PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # The web client says "Mot de passe trop faible : {message}": the reason only.
    (re.compile(r"password refused: (?P<why>.+)"), "{why}"),
    (re.compile(r"slow mode: one message every (?P<n>\d+) s"),
     "mode lent : un message toutes les {n} s"),
    (re.compile(r"this call is full: at most (?P<n>\d+) people without a video server \(SFU\)"),
     "cette visio est complète : sans serveur vidéo, elle réunit au plus {n} personnes"),
    (re.compile(r"body larger than (?P<n>\d+) bytes"), "envoi plus gros que {n} octets"),
    (re.compile(r"at most (?P<n>\d+) devices: remove one first"),
     "au plus {n} appareils : retirez-en un d'abord"),
    (re.compile(r"a file has at most (?P<n>\d+) bytes"), "un fichier fait au plus {n} octets"),
]

# A validation failure (gateway/protocol.py, http/common.py): "field: reason",
# the reason maybe a validator's own message ("Value error, …").
_FIELD = re.compile(r"^(?P<field>[\w.]{1,80}): (?:Value error, )?(?P<why>.*)$")


def language(accept_language: str | None, asked: str | None = None) -> Lang:
    """The request's language: ``asked`` (``?lang=``) if it is one we speak,
    else the best-weighted of ``fr`` and ``en`` in ``Accept-Language``, else
    French."""
    if asked in ("fr", "en"):
        return asked  # type: ignore[return-value]
    best: tuple[float, Lang] | None = None
    for part in (accept_language or "").split(",")[:20]:
        tag, _, params = part.strip().partition(";")
        primary = tag.strip().lower().split("-")[0]
        if primary not in ("fr", "en"):
            continue
        weight = 1.0
        match = re.search(r"q\s*=\s*([0-9.]{1,5})", params)
        if match:
            try:
                weight = float(match.group(1))
            except ValueError:
                weight = 0.0
        if best is None or weight > best[0]:
            best = (weight, primary)  # type: ignore[assignment]
    return DEFAULT if best is None or best[0] <= 0 else best[1]


def localise(code: ErrorCode, message: str, lang: Lang) -> str:
    """``message`` (English, as raised) in ``lang``."""
    if lang == "en":
        return message
    return _french(code, message)


def _french(code: ErrorCode, message: str) -> str:
    if message in EXACT:
        return EXACT[message]
    for pattern, template in PATTERNS:
        match = pattern.fullmatch(message)
        if match:
            values = match.groupdict()
            if "why" in values:  # a reason of its own: known, or said generically
                values["why"] = EXACT.get(values["why"], "trop faible")
            return template.format(**values)
    field = _FIELD.match(message) if code is ErrorCode.BAD_REQUEST else None
    if field:
        if field.group("why") in EXACT:
            return EXACT[field.group("why")]
        return f"champ « {field.group('field')} » invalide"
    return GENERIC[code]
