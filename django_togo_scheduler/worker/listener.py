"""The thread that listens for RQ's commands (stop a job, shut down), over outages.

RQ's listener retries every 2 s while Redis is away and logs an error each time;
this one backs off quietly, and a worker that stops ends it at once. RQ sends
UNSUBSCRIBE as the worker stops and waits for the listener without a bound
(redis-py 8); right after an outage both threads may reconnect the one
connection at once and each wait for a reply the other read. Here both waits
are bounded.
"""

from __future__ import annotations

import inspect
import threading
from typing import TYPE_CHECKING, Any

from .outages import FIRST_RETRY, MAX_RETRY, REDIS_DOWN, OutageAware

if TYPE_CHECKING:
    from redis.client import PubSub, PubSubWorkerThread

STOP_WAIT = 1.0  # seconds a stopping worker waits for each step of unsubscribing


class CommandListener(OutageAware):
    """An ``rq.Worker`` whose command listener rides out outages and stops at once."""

    _pubsub_retry = FIRST_RETRY

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Set when the worker stops: the listener, backing off while Redis is
        # away, ends at once instead of sleeping on (up to 30 s).
        self._unsubscribing = threading.Event()
        self._listener_backing_off = False  # its connection is down
        super().__init__(*args, **kwargs)

    def _redis_back(self) -> None:
        if self._redis_down_since is not None:  # an outage ends: back off anew
            self._pubsub_retry = FIRST_RETRY
        super()._redis_back()

    def subscribe(self) -> None:
        self._retry("subscribing to commands", super().subscribe)

    def unsubscribe(self) -> None:
        self._unsubscribing.set()
        thread: PubSubWorkerThread | None = self.pubsub_thread
        pubsub: PubSub | None = self.pubsub
        if thread is None or pubsub is None:  # it never subscribed
            return
        self.log.info(
            "Worker %s: unsubscribing from channel %s",
            self.name,
            self.pubsub_channel_name,
        )
        if not self._listener_backing_off:  # else its connection is gone already
            sender = threading.Thread(
                target=self._send_unsubscribe,
                args=(pubsub,),
                name="togo-unsubscribe",
                daemon=True,
            )
            sender.start()
            sender.join(STOP_WAIT)
        stop_listener(thread, STOP_WAIT)

    def _send_unsubscribe(self, pubsub: PubSub) -> None:
        try:
            self._tolerate("unsubscribing", pubsub.unsubscribe)
        except Exception as exc:  # the worker exits; its connection closes anyway
            self.log.debug("Worker %s: could not unsubscribe (%r).", self.name, exc)

    def _pubsub_exception_handler(
        self, exc: Exception, pubsub: PubSub, pubsub_thread: PubSubWorkerThread
    ) -> None:
        if not isinstance(exc, REDIS_DOWN):
            super()._pubsub_exception_handler(exc, pubsub, pubsub_thread)
            return
        self._redis_down("listening for commands", exc)
        self._listener_backing_off = True
        if self._unsubscribing.wait(self._pubsub_retry):
            pubsub_thread.stop()  # from its own thread: the loop ends, no join
            return
        self._listener_backing_off = False
        self._pubsub_retry = min(self._pubsub_retry * 2, MAX_RETRY)
        self._tolerate("listening for commands", self.connection.ping)


def stop_listener(thread: Any, wait: float) -> None:
    """End the command listener's thread, waiting for it at most ``wait`` seconds.

    redis-py 8 joins the thread in ``stop()``, with no bound unless given one;
    earlier versions only clear its flag. The thread closes its connection as it
    ends. It is a daemon: one still reading does not keep the worker from exiting.
    """
    if "timeout" in inspect.signature(thread.stop).parameters:
        thread.stop(timeout=wait)
    else:  # redis-py < 8: stop() takes no timeout and does not join
        thread.stop()
        thread.join(wait)
