"""Store contract for Web Push (SQLite and PostgreSQL): the deployment's key
stored once for every node, devices per person (one row per endpoint, a
limit, removal only by their owner), pushes claimed by one node at a time,
a gone device taking its pending pushes with it, withdrawal."""

from __future__ import annotations

import asyncio

from preau.server.store import Store
from preau.server.store.notifications import NewNotification
from tests.server.store.contract import NOW, Room, other_node, room

__all__ = ["other_node", "room"]  # fixtures


async def test_the_key_is_stored_once(room: Room, other_node: Store) -> None:
    first, second = await asyncio.gather(
        room.store.deployment_key("vapid.private", "key-a", NOW),
        other_node.deployment_key("vapid.private", "key-b", NOW))
    assert first == second
    assert await room.store.deployment_key("vapid.private", "key-c", NOW) == first


async def test_devices_and_pushes(room: Room, other_node: Store) -> None:
    store = room.store
    lea = await store.add_push_subscription(
        room.lea.id, room.school, "https://push.example/a", "P", "A", "tél", NOW, 2)
    assert lea is not None
    assert await store.add_push_subscription(
        room.lea.id, room.school, "https://push.example/b", "P", "A", "", NOW + 1, 2)
    # A third is over the limit; the same endpoint again is not a new one.
    assert await store.add_push_subscription(
        room.lea.id, room.school, "https://push.example/c", "P", "A", "", NOW, 2) is None
    again = await store.add_push_subscription(
        room.lea.id, room.school, "https://push.example/a", "P2", "A2", "tél", NOW + 2, 2)
    assert again is not None
    assert again.id != lea.id
    # Another person on the same browser: the device moves to them.
    hugo = await store.add_push_subscription(
        room.hugo.id, room.school, "https://push.example/b", "P", "A", "", NOW + 3, 2)
    assert hugo is not None
    found = await other_node.push_subscriptions_of([room.lea.id, room.hugo.id])
    assert [s.endpoint for s in found[room.lea.id]] == ["https://push.example/a"]
    assert [s.p256dh for s in found[room.lea.id]] == ["P2"]
    assert [s.endpoint for s in found[room.hugo.id]] == ["https://push.example/b"]
    assert not await store.delete_push_subscription(room.hugo.id, again.id)  # not his

    [n_lea, n_hugo] = await store.add_notifications([
        NewNotification(room.lea.id, room.school, "message", room.id, 1, room.claire.id),
        NewNotification(room.hugo.id, room.school, "message", room.id, 1, room.claire.id)],
        NOW)
    [n_lea2] = await store.add_notifications([
        NewNotification(room.lea.id, room.school, "message", room.id, 2, room.claire.id)], NOW)
    await store.add_push_jobs([(n_lea, again.id, "normal"), (n_hugo, hugo.id, "high"),
                               (n_lea2, again.id, "normal")], NOW, NOW + 5)
    assert await store.claim_push_jobs("a", NOW, 1000, 10) == []  # not due yet
    claims = await asyncio.gather(store.claim_push_jobs("a", NOW + 5, 1000, 10),
                                  other_node.claim_push_jobs("b", NOW + 5, 1000, 10))
    jobs = [j for c in claims for j in c]
    assert sorted(j.notification.id for j in jobs) == sorted([n_lea.id, n_hugo.id, n_lea2.id])
    holder = {j.id: ("a" if j in claims[0] else "b") for j in jobs}
    hugo_job = next(j for j in jobs if j.notification.id == n_hugo.id)
    assert hugo_job.urgency == "high"
    assert hugo_job.subscription.endpoint == "https://push.example/b"
    # A retry gives it back, due later, to any node.
    assert await store.retry_push_job(hugo_job.id, holder[hugo_job.id], NOW + 100, "503")
    assert await store.claim_push_jobs("b", NOW + 50, 1000, 10) == []
    [retried] = await other_node.claim_push_jobs("b", NOW + 100, 1000, 10)
    assert retried.attempts == 2
    assert await store.finish_push_job(retried.id, "b", "sent", NOW + 101)
    assert not await store.finish_push_job(retried.id, "b", "sent", NOW + 101)  # once
    # Léa's device is gone (410): its other pending push goes with it.
    lea_jobs = [j for j in jobs if j.subscription.id == again.id]
    assert await store.finish_push_job(lea_jobs[0].id, holder[lea_jobs[0].id], "gone",
                                       NOW + 102, "410")
    assert await store.push_subscriptions_of([room.lea.id]) == {}
    assert await store.push_counts(room.school) == {
        "pending": 0, "sent": 1, "gone": 2, "failed": 0, "devices": 1}
    # Withdrawn: a pending push is not sent.
    [n3] = await store.add_notifications([
        NewNotification(room.hugo.id, room.school, "message", room.id, 3, room.claire.id)], NOW)
    await store.add_push_jobs([(n3, hugo.id, "normal")], NOW, NOW)
    await store.withdraw_notifications(room.id, 3)
    assert await store.claim_push_jobs("a", NOW + 200, 1000, 10) == []
    assert await store.delete_push_subscription(room.hugo.id, hugo.id)
    assert (await store.push_counts(room.school))["devices"] == 0
