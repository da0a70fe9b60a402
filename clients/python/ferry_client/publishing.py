"""One ``FerryClient.publish`` call: pipelined batches, their results, and resends after a restart."""
from __future__ import annotations

import collections
import logging
import time
from typing import TYPE_CHECKING, Dict, List, Optional

from .errors import BrokerError, FerryError, ItemRejection, PublishRejected, RequestTimeout
from .protocol import commands_pb2 as pb, error_code_name, event_pb2
from .resume import _Voided

if TYPE_CHECKING:  # pragma: no cover
    from .client import FerryClient

log = logging.getLogger("ferry_client")


#: Defaults of Welcome.max_event_bytes and max_frame_bytes (brokers that do not send them).
DEFAULT_MAX_EVENT_BYTES = (1 << 20) + (64 << 10)
DEFAULT_MAX_FRAME_BYTES = 16 << 20
FRAME_OVERHEAD_BYTES = 64
ITEM_OVERHEAD_BYTES = 24


class Publication:
    """Sends ``events`` in batches of ``batch_size``, ``window`` batches in flight, and collects
    their results; see :meth:`FerryClient.publish`.

    When the client resumes after a broker restart (its epoch changes), the batches sent before
    the resume that were not answered are void: their events go out again, with the same ids, in
    new batches. Events answered ``SHUTTING_DOWN`` (a broker stopping gracefully) are *held* until
    then, when the client resumes; no new batch is sent while some are held.
    """

    def __init__(self, client: "FerryClient", events: List[event_pb2.Event], batch_size: int, window: int,
                 timeout: float, deliver_at_us: int = 0, deliver_after_ms: int = 0):
        self.client, self.events, self.batch_size, self.window, self.timeout = (
            client, events, batch_size, max(1, window), timeout)
        # Set for events to be appended later (FerryClient.schedule): their confirmations, by index.
        self.deliver_at_us, self.deliver_after_ms = deliver_at_us, deliver_after_ms
        self.scheduled: Dict[int, pb.ScheduledConfirmation] = {}
        self.offsets: List[Optional[int]] = [None] * len(events)
        self.rejections: List[ItemRejection] = []
        self.unsent = collections.deque(range(len(events)))
        # Publish request id -> {sequence: index in events} of its items not answered yet, and
        # the epoch (session) each was sent in.
        self.in_flight: "collections.OrderedDict[int, Dict[int, int]]" = collections.OrderedDict()
        self.sent_in: Dict[int, int] = {}
        self.held: List[int] = []
        self.held_until: Optional[float] = None
        self.epoch = client._epoch

    def run(self) -> List[int]:
        client = self.client
        client._check_mute()  # a resume it calls for happens before anything is sent, not between batches
        self.epoch = client._epoch
        try:
            while True:
                if client._epoch != self.epoch:
                    self._resend_after_resume()
                while self.unsent and len(self.in_flight) < self.window and not self.held:
                    self._send_batch()
                if self.in_flight:
                    request_id, sequences = next(iter(self.in_flight.items()))
                    try:
                        self._collect(request_id, sequences)
                    except _Voided:
                        continue  # the client resumed: resent at the top of the loop
                    del self.in_flight[request_id]
                elif self.held:  # the broker is shutting down: wait for it to come back
                    if time.monotonic() >= self.held_until:
                        raise self._unconfirmed(f"was shutting down and did not come back within {self.timeout:g} s")
                    client._step(self.held_until)
                else:
                    break
        finally:
            for request_id in self.in_flight:
                client._forget(request_id)
        if self.rejections:
            raise PublishRejected(self.offsets, sorted(self.rejections))
        return self.offsets  # type: ignore[return-value]

    def _send_batch(self) -> None:
        client = self.client
        batch, sequences = pb.Publish(), {}
        # The broker drops a frame over max_frame_bytes unread (and the connection with it), and
        # rejects an event over max_event_bytes: cut batches by size, refuse such events here.
        max_event = client.welcome.max_event_bytes or DEFAULT_MAX_EVENT_BYTES
        max_frame = client.welcome.max_frame_bytes or DEFAULT_MAX_FRAME_BYTES
        frame_bytes = FRAME_OVERHEAD_BYTES
        while self.unsent and len(batch.items) < self.batch_size:
            index = self.unsent[0]
            size = self.events[index].ByteSize()
            if size > max_event:
                self.unsent.popleft()
                code = pb.PAYLOAD_TOO_LARGE
                self.rejections.append(ItemRejection(
                    index, self.events[index].id, code, error_code_name(code),
                    f"the encoded event is {size} bytes; the broker takes at most {max_event} (max_event_bytes)"))
                continue
            if batch.items and frame_bytes + size > max_frame:
                break
            frame_bytes += size + ITEM_OVERHEAD_BYTES
            self.unsent.popleft()
            item = batch.items.add(sequence=client._next_sequence, deliver_at_us=self.deliver_at_us,
                                   deliver_after_ms=self.deliver_after_ms)
            item.event.CopyFrom(self.events[index])
            sequences[client._next_sequence] = index
            client._next_sequence += 1
        if not batch.items:
            return  # every event looked at was refused above
        try:
            request_id = client._send_command("publish", batch, self.timeout)
        except RequestTimeout:  # the send queue stayed full: the broker is not reading
            raise self._unconfirmed(f"took no Publish within {self.timeout:g} s (the send queue to it is full)") \
                from None
        self.in_flight[request_id] = sequences
        self.sent_in[request_id] = client._epoch

    def _resend_after_resume(self) -> None:
        """Queue again, first and in order, what was sent before the resume and not answered."""
        client = self.client
        self.epoch = client._epoch
        again: List[int] = []
        for request_id, sequences in list(self.in_flight.items()):
            if self.sent_in.get(request_id) == client._epoch:
                continue  # sent to the resumed session: its answer will come
            del self.in_flight[request_id]
            if request_id in client._replies:
                self._collect(request_id, sequences)  # answered before the restart: still valid
            else:
                again.extend(sequences.values())
                client._forget(request_id)
        again.extend(self.held)
        self.held.clear()
        self.held_until = None
        self.unsent.extendleft(sorted(again, reverse=True))
        log.info("ferry: resending %d unconfirmed events to %s", len(again), client.endpoint)

    def _hold(self, index: int) -> None:
        self.held.append(index)
        self.held_until = self.held_until or time.monotonic() + self.timeout

    def _unconfirmed(self, what: str) -> RequestTimeout:
        missing = sum(o is None for o in self.offsets) - len(self.rejections)
        return RequestTimeout(f"ferryd at {self.client.endpoint} {what}: {missing} of {len(self.events)} events "
                              "unconfirmed (resending them with the same ids is safe)" + self.client._silence_hint(),
                              self.offsets)

    def _collect(self, request_id: int, sequences: Dict[int, int]) -> None:
        """Wait for one batch's result and record it (``sequences`` is emptied as it fills in)."""
        client, events = self.client, self.events
        try:
            result = client._wait_reply(request_id, "publish_result", self.timeout)
        except RequestTimeout:
            raise self._unconfirmed(f"did not confirm a batch within {self.timeout:g} s") from None
        except BrokerError as error:  # the whole batch failed (e.g. SHUTTING_DOWN)
            for index in sequences.values():
                if client._holds_for_restart(error.code):
                    self._hold(index)
                else:
                    self.rejections.append(ItemRejection(index, events[index].id, error.code, error.code_name,
                                                         error.message))
            return
        if len(result.confirmed) != len(result.offsets):
            raise FerryError(f"PublishResult for request {request_id}: {len(result.confirmed)} "
                             f"confirmed but {len(result.offsets)} offsets")

        def index_of(sequence: int) -> int:
            if sequence not in sequences:
                raise FerryError(f"PublishResult for request {request_id}: unexpected sequence {sequence}")
            return sequences.pop(sequence)

        for sequence, offset in zip(result.confirmed, result.offsets):
            self.offsets[index_of(sequence)] = offset
        for scheduled in result.scheduled:  # stored for later: no offset yet
            index = index_of(scheduled.sequence)
            self.scheduled[index] = scheduled
            self.offsets[index] = 0
        for r in result.rejected:
            index = index_of(r.sequence)
            if client._holds_for_restart(r.code):
                self._hold(index)
            else:
                self.rejections.append(ItemRejection(index, events[index].id, r.code, error_code_name(r.code),
                                                     r.message))
        if sequences:
            raise FerryError(f"PublishResult for request {request_id} lacks sequences {sorted(sequences)}")
