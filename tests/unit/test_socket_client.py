"""A browser socket's bounded queue (``agent_console.socket_client``): the two overflow
policies, the snapshot put first, closing."""

from __future__ import annotations

import pytest

from agent_console.socket_client import CLOSE, SocketClient


def drain(client: SocketClient) -> list[str]:
    return [client.queue.get_nowait() for _ in range(client.queue.qsize())]


def test_a_full_queue_drops_its_oldest_frame_by_default() -> None:
    client = SocketClient(3)
    for frame in ("a", "b", "c", "d"):
        client.offer(frame)
    assert drain(client) == ["b", "c", "d"] and client.dropped == 1


def test_an_overflow_policy_makes_room_and_puts_its_frames_ahead_of_the_new_one() -> None:
    def resync(c: SocketClient) -> list[str]:
        c.drop_backlog()
        return ["resync", "s1", "s2", "s3", "s4"]  # more than fits: the first ones stay

    client = SocketClient(4, overflow=resync)
    for frame in ("a", "b", "c", "d"):
        client.offer(frame)
    client.offer("new")
    assert drain(client) == ["resync", "s1", "s2", "new"] and client.dropped == 4


def test_a_policy_that_makes_no_room_still_never_blocks() -> None:
    client = SocketClient(2, overflow=lambda c: ())
    for frame in ("a", "b", "c"):
        client.offer(frame)
    assert drain(client) == ["b", "c"]


def test_the_snapshot_goes_first_with_the_newest_frames_that_fit_behind_it() -> None:
    client = SocketClient(3)
    for frame in ("e1", "e2", "e3"):
        client.offer(frame)
    client.offer_first("snapshot")
    assert drain(client) == ["snapshot", "e2", "e3"] and client.dropped == 1
    one = SocketClient(1)
    one.offer("e1")
    one.offer_first("snapshot")
    assert drain(one) == ["snapshot"]


def test_closing_drops_the_backlog_and_then_takes_nothing_more() -> None:
    client = SocketClient(4)
    client.offer("a")
    client.close()
    client.offer("late")
    client.close()
    assert drain(client) == [CLOSE] and client.closing


def test_a_queue_holds_at_least_one_frame() -> None:
    with pytest.raises(ValueError):
        SocketClient(0)
