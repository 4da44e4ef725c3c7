"""Run deliveries on Celery workers: the deferred engine (``pip install "vbwd-plugins[celery]"``).

Only hosts that use Celery import this module; the rest of the library never imports Celery.
One module of the host builds its Celery app and calls :func:`install` with a factory of its
:class:`~vbwd_plugins.PluginManager` (plugins and host listeners alike)::

    app = Celery("shop", broker="redis://127.0.0.1:6379/0")
    engine = install(app, make_manager, max_attempts=8, sweep_every=timedelta(minutes=1))

The web processes set ``manager.set_delivery_engine(engine)``: a verified webhook is answered
as soon as its deliveries are committed, and each delivery becomes one ``vbwd_plugins.deliver``
task. The workers (``celery -A shop.tasks worker``) build their own manager from the same
factory, once per process, and run each task through a
:class:`~vbwd_plugins.delivery.DeliveryRunner`:

* the task is acknowledged late (``acks_late``, ``reject_on_worker_lost``): a worker killed
  mid-task leaves the message to be delivered again;
* a failure is recorded with its next attempt time (exponential backoff with jitter, from the
  :class:`~vbwd_plugins.delivery.RetryPolicy`), and the task enqueues itself again for then;
* after the last attempt the delivery is DEAD: logged, and left for an operator
  (``vbwd-plugins deliveries retry``);
* a delivery for a listener the worker does not have fails naming the listener.

``vbwd_plugins.sweep``, run by Celery beat every ``sweep_every`` (and by ``vbwd-plugins
deliveries sweep``), enqueues again what is due and what a dead runner held past its lease,
so a lost message or a killed worker loses nothing. The store, not the broker, is the record
of what is left to do: duplicate messages are harmless, since only one runner can claim a
delivery and a succeeded one is never run again.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final, final

from celery import Celery

from vbwd_plugins.delivery._runner import DeliveryRunner, RunOutcome

if TYPE_CHECKING:
    from vbwd_plugins.delivery._policy import RetryPolicy
    from vbwd_plugins.plugins._manager import PluginManager

__all__ = ["DELIVER_TASK", "SWEEP_TASK", "CeleryEngine", "ManagerFactory", "install"]

logger = logging.getLogger("vbwd_plugins.delivery")

#: The task that runs one delivery; its only argument is the delivery id.
DELIVER_TASK: Final = "vbwd_plugins.deliver"
#: The task (and beat entry) that enqueues due and abandoned deliveries again.
SWEEP_TASK: Final = "vbwd_plugins.sweep"

_INSTALLED: Final = "_vbwd_plugins_installed"

#: Builds the host's manager, with every plugin and host listener; called once per worker
#: process, on its first task.
ManagerFactory = Callable[[], "PluginManager"]


@final
class CeleryEngine:
    """A :class:`~vbwd_plugins.delivery.DeliveryEngine`: one ``vbwd_plugins.deliver`` task per
    delivery, sent to ``app``'s broker.

    Tasks are sent by name, so a process that only records (a web worker) needs the app's
    broker settings, not the tasks; ``queue`` overrides the app's routing.
    """

    __slots__ = ("app", "queue")

    def __init__(self, app: Celery, *, queue: str | None = None) -> None:
        if not isinstance(app, Celery):
            raise TypeError(f"CeleryEngine needs a celery.Celery app, got {app!r}")
        #: Whose broker the tasks go to.
        self.app: Final = app
        #: The queue of every task (``None``: the app's routes, or its default queue).
        self.queue: Final = queue

    def submit(self, delivery_ids: Sequence[str]) -> None:
        """Send one task per delivery, over one producer connection."""
        if delivery_ids:
            self._send(delivery_ids, None)

    def submit_at(self, delivery_id: str, when: datetime) -> None:
        """Send the task of ``delivery_id`` to run at ``when`` (at once if it has passed)."""
        self._send((delivery_id,), when)

    def _send(self, delivery_ids: Sequence[str], eta: datetime | None) -> None:
        options: dict[str, Any] = {} if self.queue is None else {"queue": self.queue}
        with self.app.producer_or_acquire() as producer:
            for one in delivery_ids:
                self.app.send_task(
                    DELIVER_TASK,
                    args=(one,),
                    eta=eta,
                    producer=producer,
                    add_to_parent=False,
                    **options,
                )

    def __repr__(self) -> str:
        return f"CeleryEngine({self.app.main!r}, queue={self.queue!r})"


@final
class _Worker:
    """What a worker process keeps: its manager (built on first use) and its runner."""

    __slots__ = ("_factory", "_lock", "_manager", "_pid", "_runner", "engine", "lease", "policy")

    def __init__(
        self,
        factory: ManagerFactory,
        engine: CeleryEngine,
        policy: RetryPolicy | None,
        lease: timedelta | None,
    ) -> None:
        self._factory = factory
        self.engine = engine
        self.policy = policy
        self.lease = lease
        self._lock = threading.Lock()
        self._manager: PluginManager | None = None
        self._runner: DeliveryRunner | None = None
        self._pid = 0

    def manager(self) -> PluginManager:
        """This process's manager: built from the factory once (again after a fork)."""
        manager = self._manager
        if manager is not None and self._pid == os.getpid():
            return manager
        with self._lock:
            if self._manager is None or self._pid != os.getpid():
                self._build()
            assert self._manager is not None
            return self._manager

    def runner(self) -> DeliveryRunner:
        """The runner of this process's manager, with ``install``'s policy and lease if given."""
        self.manager()
        assert self._runner is not None
        return self._runner

    def _build(self) -> None:
        from vbwd_plugins.plugins._manager import PluginManager

        manager = self._factory()
        if not isinstance(manager, PluginManager):
            raise TypeError(
                f"The manager factory {self._factory!r} returned {type(manager).__name__}; "
                "it must return the host's PluginManager"
            )
        manager.set_delivery_engine(self.engine)  # what this worker publishes goes to Celery
        service = manager.deliveries
        runner = service.runner
        if self.policy is not None or self.lease is not None:
            runner = DeliveryRunner(
                service.outbox,
                service.dispatcher,
                policy=self.policy if self.policy is not None else runner.policy,
                lease=self.lease if self.lease is not None else runner.lease,
            )
        self._manager, self._runner, self._pid = manager, runner, os.getpid()
        logger.info("Celery worker %d: plugin manager ready for deliveries", self._pid)

    def deliver(self, delivery_id: str) -> str:
        result = self.runner().run(delivery_id)
        if result.outcome is RunOutcome.RETRY:
            when = result.retry_at if result.retry_at is not None else datetime.now(UTC)
            self.engine.submit_at(delivery_id, when)
        elif result.outcome is RunOutcome.DEAD:
            logger.error(
                "Delivery %s is dead after its last attempt (%s); it stays dead until an "
                "operator retries it: vbwd-plugins deliveries retry %s",
                delivery_id,
                result.error,
                delivery_id,
            )
        elif result.outcome is RunOutcome.SKIPPED:
            logger.debug("Delivery %s not run: %s", delivery_id, result.error or "not claimable")
        return result.outcome.value

    def sweep(self, limit: int) -> int:
        return len(self.manager().deliveries.sweep(limit=limit))


def install(
    app: Celery,
    manager_factory: ManagerFactory,
    *,
    max_attempts: int | None = None,
    policy: RetryPolicy | None = None,
    lease: timedelta | None = None,
    sweep_every: timedelta | None = timedelta(minutes=1),
    sweep_limit: int = 1000,
    queue: str | None = None,
) -> CeleryEngine:
    """Register ``vbwd_plugins.deliver`` and ``vbwd_plugins.sweep`` on ``app``; its engine.

    ``manager_factory`` builds the host's manager in each worker process (lazily, on the
    first task), so workers call the same listeners as the web processes. ``max_attempts``
    (or a whole ``policy``) and ``lease`` override the manager's retry policy and claim
    lease on the workers; keep every listener well below the lease. ``sweep_every`` adds a
    Celery beat entry (``None``: none; run ``vbwd-plugins deliveries sweep`` yourself).
    Call it once per app, when the module that ``celery -A`` loads is imported.
    """
    if max_attempts is not None:
        if policy is not None:
            raise ValueError("give max_attempts or policy, not both")
        from vbwd_plugins.delivery._policy import RetryPolicy

        policy = RetryPolicy(max_attempts=max_attempts)
    if lease is not None and (not isinstance(lease, timedelta) or lease <= timedelta(0)):
        raise ValueError(f"lease must be a positive timedelta, got {lease!r}")
    if sweep_every is not None and sweep_every <= timedelta(0):
        raise ValueError(f"sweep_every must be a positive timedelta or None, got {sweep_every!r}")
    if isinstance(sweep_limit, bool) or not isinstance(sweep_limit, int) or sweep_limit < 1:
        raise ValueError(f"sweep_limit must be an int >= 1, got {sweep_limit!r}")
    if getattr(app, _INSTALLED, False):
        raise ValueError(
            f"install() was already called on the Celery app {app.main!r}: call it once per "
            "app and share the engine it returned"
        )
    engine = CeleryEngine(app, queue=queue)
    setattr(app, _INSTALLED, True)
    worker = _Worker(manager_factory, engine, policy, lease)
    task_options: dict[str, Any] = {} if queue is None else {"queue": queue}

    @app.task(
        name=DELIVER_TASK,
        shared=False,  # this app only: not every Celery app the process creates later
        acks_late=True,
        reject_on_worker_lost=True,
        ignore_result=True,
        **task_options,
    )
    def deliver(delivery_id: str) -> str:
        """Run one delivery; enqueue it again for its retry time if it failed."""
        return worker.deliver(delivery_id)

    @app.task(name=SWEEP_TASK, shared=False, ignore_result=True, **task_options)
    def sweep(limit: int = sweep_limit) -> int:
        """Enqueue due deliveries and those whose runner's lease ran out."""
        return worker.sweep(limit)

    if sweep_every is not None:
        schedule = dict(app.conf.beat_schedule or {})
        schedule[SWEEP_TASK] = {
            "task": SWEEP_TASK,
            "schedule": sweep_every.total_seconds(),
            "options": {"expires": sweep_every.total_seconds(), **task_options},
        }
        app.conf.beat_schedule = schedule
    return engine
