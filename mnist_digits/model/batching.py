"""Opportunistic batching: one model call for every request waiting at that moment.

A model answers a batch of 8 in far less time than 8 calls of one (most of a
small call is fixed cost), so when several threads of a server ask at once,
it pays to run them together. `Batcher(run)` wraps a batch function
fn(array (N, ...)) -> array (N, ...): calls from any thread are queued, and
whoever finds the model idle runs *everything queued at that moment* as one
call, then hands each caller its own rows. It never waits for more requests
to arrive, so a lone request runs at once, on its own thread (no hand-off to
a helper thread and back), and pays nothing.

While a call runs, new requests queue; when it ends, the first of them takes
over and runs the next batch with whatever has queued meanwhile. Only the
model call is shared: callers prepare their inputs (decode, preprocess) on
their own threads, so a bad image fails its own request and nothing else,
and an error of the model call itself reaches exactly the callers in it.
"""
import threading

import numpy as np


class _Request:
    __slots__ = ("inputs", "outputs", "error", "done", "lead", "wake")

    def __init__(self, inputs):
        self.inputs = inputs
        self.outputs = self.error = None
        self.done = self.lead = False
        # Held from the start; released to wake the caller (to lead a call, or because
        # its answer is in). A bare lock: an Event builds a Condition, and its wait
        # another lock, on every request.
        self.wake = threading.Lock()
        self.wake.acquire()


class Batcher:
    """Thread-safe fn(inputs (N, ...)) -> outputs (N, ...), batching concurrent calls.

    `max_rows` caps one combined call (a caller's own rows are never split)."""

    def __init__(self, run, max_rows=64):
        self._run = run
        self.max_rows = max_rows
        self._lock = threading.Lock()
        self._queue = []
        self._busy = False
        self.calls = 0          # model calls made, and requests they answered
        self.requests = 0       # (requests / calls is the mean batch, in requests)

    def __call__(self, inputs):
        request = _Request(inputs)
        with self._lock:
            self._queue.append(request)
            request.lead = not self._busy
            self._busy = True
        while not request.done:
            if request.lead:
                request.lead = False
                self._run_queued()
            else:
                request.wake.acquire()
        if request.error is not None:
            raise request.error
        return request.outputs

    def _take(self):
        """The queued requests for one call: the first, and as many more as fit."""
        taken, rows = [], 0
        with self._lock:
            for request in self._queue:
                if taken and rows + len(request.inputs) > self.max_rows:
                    break
                taken.append(request)
                rows += len(request.inputs)
            del self._queue[:len(taken)]
        return taken

    def _run_queued(self):
        taken = self._take()
        try:
            inputs = taken[0].inputs if len(taken) == 1 else np.concatenate([r.inputs for r in taken])
            outputs = self._run(inputs)
        except Exception as exc:   # reaches every caller of this call, and no other
            for request in taken:
                request.error = exc
        else:
            start = 0
            for request in taken:
                request.outputs = outputs[start:start + len(request.inputs)]
                start += len(request.inputs)
        self.calls += 1
        self.requests += len(taken)
        with self._lock:
            if self._queue:                 # the next call is run by the first in line
                self._queue[0].lead = True
                self._queue[0].wake.release()
            else:
                self._busy = False
        for request in taken:
            request.done = True
            request.wake.release()          # every taken request's lock is held here
