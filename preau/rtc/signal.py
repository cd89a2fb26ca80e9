"""Signalling payloads, shape-checked without I/O: SDP and ICE candidates.

The server relays SDP between peers and never needs to understand it, but it
never trusts it either: a description is bounded in size, must look like SDP
(RFC 8866 ``x=value`` lines of printable ASCII, ``v=0`` first, at most
:data:`MAX_MEDIA_SECTIONS` media sections) and is summarised into its media
sections (kind, port, direction) so that a policy such as "cameras visible to
the teacher only" can be enforced on the server: a description that would
send video between two pupils is refused before it reaches anyone.

Candidates follow RFC 8839's grammar (``candidate:`` foundation, component,
transport, priority, address, port, ``typ`` and a type), bounded; an empty
candidate string is a browser's end-of-candidates and is accepted as such.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

MAX_SDP_BYTES = 32 * 1024  # a browser's audio+video offer is 4–10 KiB
MAX_SDP_LINE = 2048
MAX_MEDIA_SECTIONS = 16
MAX_CANDIDATE_CHARS = 512
MAX_MID_CHARS = 32
MAX_MLINE_INDEX = MAX_MEDIA_SECTIONS - 1
MAX_UFRAG_CHARS = 256


class SignalError(ValueError):
    """A payload that is not acceptable; ``too_large`` tells size from shape."""

    def __init__(self, message: str, *, too_large: bool = False) -> None:
        super().__init__(message)
        self.too_large = too_large


class SdpType(StrEnum):
    OFFER = "offer"
    ANSWER = "answer"


class Direction(StrEnum):
    SENDRECV = "sendrecv"
    SENDONLY = "sendonly"
    RECVONLY = "recvonly"
    INACTIVE = "inactive"


@dataclass(frozen=True, slots=True)
class MediaSection:
    kind: str  # audio | video | application
    port: int
    direction: Direction

    @property
    def active(self) -> bool:
        """Port 0 rejects the section (RFC 8843); inactive carries nothing."""
        return self.port != 0 and self.direction is not Direction.INACTIVE

    @property
    def sends(self) -> bool:
        """The author of the description offers to send media in this section."""
        return self.active and self.direction in (Direction.SENDRECV, Direction.SENDONLY)

    @property
    def receives(self) -> bool:
        return self.active and self.direction in (Direction.SENDRECV, Direction.RECVONLY)


@dataclass(frozen=True, slots=True)
class SdpSummary:
    sections: tuple[MediaSection, ...]

    def carries_video(self) -> bool:
        """Any active video section, whichever way: under "teacher-only
        cameras" two pupils may not exchange video in either direction."""
        return any(s.kind == "video" and s.active for s in self.sections)


_LINE = re.compile(r"[a-z]=[\x20-\x7e]*")
_MLINE = re.compile(
    r"m=(audio|video|application|text|message) (\d{1,5})(?:/\d{1,3})? (\S+)(?: .*)?"
)
_DIRECTIONS = {f"a={d.value}": d for d in Direction}


def check_sdp(sdp: str, kind: SdpType) -> SdpSummary:
    """Validate a session description's shape; return its media summary.

    Raises :class:`SignalError`. Never echoes the SDP back (it may hold
    addresses). Lines end in CRLF per the RFC; bare LF is tolerated because
    some stacks send it.
    """
    del kind  # offers and answers share one grammar; the caller checks the state
    if len(sdp) > MAX_SDP_BYTES or len(sdp.encode("utf-8", "surrogatepass")) > MAX_SDP_BYTES:
        raise SignalError(f"sdp larger than {MAX_SDP_BYTES} bytes", too_large=True)
    lines = sdp.replace("\r\n", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if not lines or lines[0] != "v=0":
        raise SignalError("sdp must start with v=0")
    sections: list[MediaSection] = []
    current: tuple[str, int] | None = None
    direction = Direction.SENDRECV
    session_direction = Direction.SENDRECV
    seen_o = False
    for number, line in enumerate(lines, 1):
        if len(line) > MAX_SDP_LINE:
            raise SignalError(f"sdp line {number} is too long", too_large=True)
        if _LINE.fullmatch(line) is None:
            raise SignalError(f"sdp line {number} is not a printable x=value line")
        if line.startswith("o="):
            seen_o = True
        elif line.startswith("m="):
            match = _MLINE.fullmatch(line)
            if match is None:
                raise SignalError(f"sdp line {number}: malformed media line")
            if current is not None:
                sections.append(MediaSection(current[0], current[1], direction))
            if len(sections) >= MAX_MEDIA_SECTIONS:
                raise SignalError(f"more than {MAX_MEDIA_SECTIONS} media sections",
                                  too_large=True)
            port = int(match[2])
            if port > 65535:
                raise SignalError(f"sdp line {number}: port out of range")
            current = (match[1], port)
            direction = session_direction
        elif line in _DIRECTIONS:
            if current is None:
                session_direction = _DIRECTIONS[line]
            else:
                direction = _DIRECTIONS[line]
    if current is not None:
        sections.append(MediaSection(current[0], current[1], direction))
    if not seen_o:
        raise SignalError("sdp has no o= line")
    return SdpSummary(tuple(sections))


_CANDIDATE = re.compile(
    r"(?:candidate:)?[A-Za-z0-9+/]{1,32} \d{1,3} (?i:udp|tcp) \d{1,10} "
    r"[A-Za-z0-9.:\-]{1,253} \d{1,5} typ (?:host|srflx|prflx|relay)(?: [\x21-\x7e]+)*"
)
_MID = re.compile(r"[A-Za-z0-9_\-.]{1,%d}" % (MAX_MID_CHARS,))  # noqa: UP031
_UFRAG = re.compile(r"[A-Za-z0-9+/]{1,%d}" % (MAX_UFRAG_CHARS,))  # noqa: UP031


@dataclass(frozen=True, slots=True)
class Candidate:
    """One trickled ICE candidate (RTCIceCandidateInit's fields)."""

    candidate: str
    sdp_mid: str | None
    sdp_mline_index: int | None
    username_fragment: str | None

    @property
    def end_of_candidates(self) -> bool:
        return self.candidate == ""

    def to_wire(self) -> dict[str, object]:
        return {"candidate": self.candidate, "sdpMid": self.sdp_mid,
                "sdpMLineIndex": self.sdp_mline_index,
                "usernameFragment": self.username_fragment}


def check_candidate(
    candidate: str, sdp_mid: str | None, sdp_mline_index: int | None,
    username_fragment: str | None,
) -> Candidate:
    """Validate a trickled candidate; raise :class:`SignalError`."""
    if len(candidate) > MAX_CANDIDATE_CHARS:
        raise SignalError(f"candidate longer than {MAX_CANDIDATE_CHARS} characters",
                          too_large=True)
    if candidate and _CANDIDATE.fullmatch(candidate) is None:
        raise SignalError("not an ICE candidate line")
    if sdp_mid is None and sdp_mline_index is None:
        raise SignalError("give sdpMid or sdpMLineIndex")
    if sdp_mid is not None and _MID.fullmatch(sdp_mid) is None:
        raise SignalError("malformed sdpMid")
    if sdp_mline_index is not None and not 0 <= sdp_mline_index <= MAX_MLINE_INDEX:
        raise SignalError("sdpMLineIndex out of range")
    if username_fragment is not None and _UFRAG.fullmatch(username_fragment) is None:
        raise SignalError("malformed usernameFragment")
    return Candidate(candidate, sdp_mid, sdp_mline_index, username_fragment)


class CandidateBudget:
    """A token bucket of candidates per (sender, recipient) pair.

    A negotiation gathers a handful of candidates per interface; thousands are
    a flood meant to make the recipient's browser work. Sans-I/O: the caller
    passes the time. A new description (offer or answer) refills the pair,
    since an ICE restart legitimately gathers a fresh set.
    """

    def __init__(self, burst: int = 40, per_s: float = 4.0) -> None:
        self.burst = burst
        self.per_s = per_s
        self._pairs: dict[tuple[str, str], tuple[float, float]] = {}

    def take(self, sender: str, recipient: str, now_s: float) -> bool:
        tokens, last = self._pairs.get((sender, recipient), (float(self.burst), now_s))
        tokens = min(float(self.burst), tokens + (now_s - last) * self.per_s)
        if tokens < 1.0:
            self._pairs[(sender, recipient)] = (tokens, now_s)
            return False
        self._pairs[(sender, recipient)] = (tokens - 1.0, now_s)
        return True

    def refill(self, sender: str, recipient: str) -> None:
        self._pairs.pop((sender, recipient), None)

    def forget(self, peer: str) -> None:
        """Drop every pair involving ``peer`` (it left)."""
        for pair in [p for p in self._pairs if peer in p]:
            del self._pairs[pair]
