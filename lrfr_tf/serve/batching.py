"""Server-side batching, after TF Serving's batching session and shared batch scheduler.

Requests for the same servable, signature and per-instance input shapes share a queue. Each queue holds
batches; a request joins the open (last) batch if it fits in ``max_batch_size``, else a new batch is
opened, unless the queue already holds ``max_enqueued_batches`` batches: then the request fails with
UNAVAILABLE (HTTP 503) instead of waiting. A request larger than ``max_batch_size`` on its own fails
with INVALID_ARGUMENT (400). A batch runs when it is full, when a newer batch was opened behind it, or
``batch_timeout_micros`` after it was opened; batches run one at a time on a worker thread, and each
request gets its own rows of the outputs back. Requests without a common batch dimension run alone.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import dataclasses
import logging
from typing import Callable, Deque, Dict, Hashable, List, Optional, Tuple

import numpy as np

from lrfr_tf.serve.serving_errors import ServingError, from_exception, invalid_argument

log = logging.getLogger("lrfr_tf.serve")

Arrays = Dict[str, np.ndarray]


@dataclasses.dataclass
class _Task:
    inputs: Arrays
    size: int
    future: asyncio.Future


@dataclasses.dataclass
class _Batch:
    opened_at: float
    tasks: List[_Task] = dataclasses.field(default_factory=list)
    size: int = 0


@dataclasses.dataclass
class _Queue:
    run: Callable[[Arrays], Arrays]
    batches: Deque[_Batch] = dataclasses.field(default_factory=collections.deque)


class Batcher:
    """Merges concurrent requests into model calls; ``batches_run`` and ``tasks_run`` count what it did."""

    def __init__(self, max_batch_size: int = 32, batch_timeout_micros: int = 1000, max_enqueued_batches: int = 10):
        self.max_batch_size = max_batch_size
        self.batch_timeout = batch_timeout_micros / 1e6
        self.max_enqueued_batches = max_enqueued_batches
        self.batches_run = 0
        self.tasks_run = 0
        self._queues: Dict[Hashable, _Queue] = {}
        self._executor: Optional[concurrent.futures.ThreadPoolExecutor] = None
        self._wake: Optional[asyncio.Event] = None
        self._scheduler: Optional[asyncio.Task] = None

    @property
    def queued_tasks(self) -> int:
        return sum(len(b.tasks) for q in self._queues.values() for b in q.batches)

    async def start(self) -> None:
        self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="lrfr_tf.serve.model")
        self._wake = asyncio.Event()
        self._scheduler = asyncio.create_task(self._schedule())

    async def stop(self) -> None:
        if self._scheduler is not None:
            self._scheduler.cancel()
            await asyncio.gather(self._scheduler, return_exceptions=True)
            self._scheduler = None
        for queue in self._queues.values():
            for batch in queue.batches:
                for task in batch.tasks:
                    if not task.future.done():
                        task.future.set_exception(ServingError("UNAVAILABLE", "The server is shutting down"))
        self._queues.clear()
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    async def submit(self, key: Hashable, run: Callable[[Arrays], Arrays], inputs: Arrays,
                     batch_size: Optional[int]) -> Arrays:
        """Run ``run(inputs)`` batched with other requests of the same ``key``; ``batch_size`` is the inputs'
        common 0th dimension, or None when they have none (the request then runs alone)."""
        if batch_size is not None and batch_size > self.max_batch_size:
            raise invalid_argument(
                f"Task size {batch_size} is larger than maximum input batch size {self.max_batch_size}"
            )
        if batch_size is None or batch_size == 0:
            key, cost = (key, "unbatched"), self.max_batch_size  # fills a batch of its own
        else:
            cost = batch_size
        loop = asyncio.get_running_loop()
        queue = self._queues.get(key) or _Queue(run)
        batch = queue.batches[-1] if queue.batches else None
        if batch is None or batch.size + cost > self.max_batch_size:
            if len(queue.batches) >= self.max_enqueued_batches:
                raise ServingError(
                    "UNAVAILABLE",
                    "The batch scheduling queue to which this task was submitted is full; currently "
                    f"{len(queue.batches)} batches enqueued and max_enqueued_batches is {self.max_enqueued_batches}",
                )
            batch = _Batch(opened_at=loop.time())
            queue.batches.append(batch)
        self._queues[key] = queue
        task = _Task(inputs, batch_size or 0, loop.create_future())
        batch.tasks.append(task)
        batch.size += cost
        self._wake.set()
        return await task.future

    # ---- scheduling (event loop)

    def _ready(self, queue: _Queue, now: float) -> bool:
        head = queue.batches[0]
        return (len(queue.batches) > 1 or head.size >= self.max_batch_size
                or now >= head.opened_at + self.batch_timeout)

    def _pop_ready(self, now: float) -> Optional[Tuple[_Queue, _Batch]]:
        ready = [(q.batches[0].opened_at, key) for key, q in self._queues.items() if self._ready(q, now)]
        if not ready:
            return None
        _, key = min(ready, key=lambda item: item[0])
        queue = self._queues[key]
        batch = queue.batches.popleft()
        if not queue.batches:
            del self._queues[key]
        return queue, batch

    async def _schedule(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            now = loop.time()
            picked = self._pop_ready(now)
            if picked is None:
                self._wake.clear()
                deadlines = [q.batches[0].opened_at + self.batch_timeout for q in self._queues.values()]
                timeout = max(0.0, min(deadlines) - now) if deadlines else None
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout)
                except asyncio.TimeoutError:
                    pass
                continue
            await self._run(*picked)

    async def _run(self, queue: _Queue, batch: _Batch) -> None:
        tasks = [t for t in batch.tasks if not t.future.done()]  # clients that went away are dropped
        if not tasks:
            return
        try:
            results = await asyncio.get_running_loop().run_in_executor(self._executor, _run_tasks, queue.run, tasks)
        except asyncio.CancelledError:
            _settle(tasks, error=ServingError("UNAVAILABLE", "The server is shutting down"))
            raise
        except Exception as e:  # the model failed: every request of the batch gets the error
            error = from_exception(e)
            log.debug("batch of %d requests failed: %s", len(tasks), error.message)
            _settle(tasks, error=error)
        else:
            _settle(tasks, results=results)
        finally:
            self.batches_run += 1
            self.tasks_run += len(tasks)


def _run_tasks(run: Callable[[Arrays], Arrays], tasks: List[_Task]) -> List[Arrays]:
    """One model call for all ``tasks`` (on the worker thread): inputs concatenated, outputs split back."""
    if len(tasks) == 1:
        return [run(tasks[0].inputs)]
    inputs = {name: np.concatenate([t.inputs[name] for t in tasks]) for name in tasks[0].inputs}
    outputs = run(inputs)
    total = sum(t.size for t in tasks)
    for name, array in outputs.items():
        if array.ndim == 0 or array.shape[0] != total:
            rows = array.shape[0] if array.ndim else 0
            raise ServingError(
                "FAILED_PRECONDITION",
                f"Batched output tensor '{name}' has {rows} elements in the 0th dimension but the batch size is {total}",
            )
    bounds = np.cumsum([0] + [t.size for t in tasks])
    return [{name: array[a:b] for name, array in outputs.items()} for a, b in zip(bounds[:-1], bounds[1:])]


def _settle(tasks: List[_Task], results: Optional[List[Arrays]] = None, error: Optional[ServingError] = None) -> None:
    for index, task in enumerate(tasks):
        if task.future.done():
            continue
        if error is not None:
            task.future.set_exception(error)
        else:
            task.future.set_result(results[index])
