"""A desktop's notification daemon, for clicking the notifications that
Chromium shows.

On Linux, Chromium hands its notifications to whoever owns
``org.freedesktop.Notifications`` on the session bus (the Desktop
Notifications Specification, what GNOME Shell or dunst implement) and
dispatches ``notificationclick`` to the service worker when that daemon
signals ``ActionInvoked`` — the path a person's click takes. Here the bus is
a private ``dbus-daemon`` started by the test, and the daemon records each
``Notify`` and clicks on demand. Chromium only looks for a daemon when it has
a session bus (``DBUS_SESSION_BUS_ADDRESS`` in its environment).

Headless Chromium gives no other way to click a notification: CDP has none,
and an event made in the worker (``new NotificationEvent(...)``) may neither
focus nor open a window (no user activation)."""

from __future__ import annotations

import itertools
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jeepney import DBusAddress, HeaderFields, MessageType, new_error, new_method_return, new_signal
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import DBusConnection, open_dbus_connection

PATH = "/org/freedesktop/Notifications"
NAME = "org.freedesktop.Notifications"
CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={socket}</listen>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


@dataclass
class Shown:
    """One ``Notify`` call: what the desktop would draw."""

    id: int
    app: str
    summary: str
    body: str
    actions: list[str]
    hints: dict[str, Any]


class NotificationDaemon:
    def __init__(self, address: str) -> None:
        self.address = address
        self.conn: DBusConnection = open_dbus_connection(address)
        reply = self.conn.send_and_get_reply(message_bus.RequestName(NAME, 4), timeout=5)
        assert reply.body == (1,), reply.body  # the primary owner
        self.shown: list[Shown] = []
        self.closed: list[int] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                msg = self.conn.receive()
            except (OSError, ValueError, EOFError):
                return
            if msg.header.message_type != MessageType.method_call:
                continue
            member = msg.header.fields.get(HeaderFields.member)
            if member == "GetCapabilities":
                reply = new_method_return(msg, "as", (["actions", "body"],))
            elif member == "GetServerInformation":
                reply = new_method_return(msg, "ssss", ("preau-tests", "Préau", "1", "1.2"))
            elif member == "Notify":
                app, replaces, _icon, summary, body, actions, hints, _timeout = msg.body
                with self._lock:
                    number = replaces or next(self._ids)
                    self.shown.append(Shown(number, app, summary, body, list(actions), hints))
                reply = new_method_return(msg, "u", (number,))
            elif member == "CloseNotification":
                with self._lock:
                    self.closed.append(msg.body[0])
                reply = new_method_return(msg)
            else:
                reply = new_error(msg, "org.freedesktop.DBus.Error.UnknownMethod")
            self.conn.send(reply)

    def wait_for(self, count: int, timeout: float = 10) -> list[Shown]:
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                if len(self.shown) >= count:
                    return list(self.shown)
            assert time.monotonic() < deadline, f"{len(self.shown)} shown, {count} awaited"
            time.sleep(0.05)

    def click(self, shown: Shown) -> None:
        """The person clicks the notification (its default action)."""
        assert "default" in shown.actions, shown.actions
        self.conn.send(new_signal(DBusAddress(PATH, interface=NAME), "ActionInvoked", "us",
                                  (shown.id, "default")))

    def close(self) -> None:
        self.conn.close()


@contextmanager
def session_bus(directory: Path) -> Iterator[str]:
    """A private session bus: its address, for Chromium's environment."""
    socket = directory / "bus"
    config = directory / "bus.conf"
    config.write_text(CONFIG.format(socket=socket))
    daemon = subprocess.Popen(["dbus-daemon", "--nofork", f"--config-file={config}"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while not socket.exists():
            if daemon.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"dbus-daemon did not start: {daemon.stderr!r}")
            time.sleep(0.02)
        yield f"unix:path={socket}"
    finally:
        daemon.terminate()
        daemon.wait(10)
        if daemon.stderr:
            daemon.stderr.close()


@contextmanager
def notification_daemon(directory: Path) -> Iterator[NotificationDaemon]:
    with session_bus(directory) as address:
        daemon = NotificationDaemon(address)
        try:
            yield daemon
        finally:
            daemon.close()
