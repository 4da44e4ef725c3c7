"""The fault scenario's Celery app (``celery -A tests.delivery._fault_celery worker|beat``).

Broker, queue and key prefix come from the run's environment (``VBWD_FAULT_BROKER``,
``VBWD_FAULT_QUEUE``), so a run never sees another's messages. Beat sweeps every
``VBWD_FAULT_SWEEP_EVERY`` seconds: what a killed worker held, or a lost message, is
enqueued again from the store.
"""

from __future__ import annotations

from datetime import timedelta

from celery import Celery

from tests.delivery._fault_host import lease, make_manager, policy, setting
from vbwd_plugins.delivery.celery import install

QUEUE = setting("QUEUE", "vbwd-faults")

app = Celery("vbwd_faults", broker=setting("BROKER", "redis://127.0.0.1:6379/15"))
app.conf.update(
    task_default_queue=QUEUE,
    # A killed worker's unacknowledged messages come back after this; the sweep is faster.
    broker_transport_options={"global_keyprefix": f"{QUEUE}:", "visibility_timeout": 60},
    broker_connection_retry_on_startup=True,
    worker_prefetch_multiplier=1,
    worker_send_task_events=False,
)

engine = install(
    app,
    make_manager,
    policy=policy(),
    lease=lease(),
    sweep_every=timedelta(seconds=float(setting("SWEEP_EVERY", "1"))),
)
