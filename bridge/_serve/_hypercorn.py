"""hypercorn, on asyncio, uvloop or trio: served in this process, or by ``hypercorn.run``.

With ``--workers`` or ``--reload`` hypercorn's own runner loads the app by
import path in worker processes. Otherwise the app object is served here, with
a shutdown trigger on SIGINT/SIGTERM, because hypercorn's trio worker has no
signal handling of its own; the trigger starts hypercorn's graceful shutdown,
lifespan shutdown included.
"""

from __future__ import annotations

import os
import signal
from functools import partial
from typing import Any

from .._cli_load import EXIT_OK, EXIT_SERVER, CliError
from .._detect import ASGI3
from ._base import ENTRY, SPEC_ENV, Options, Plan, Server, bind, served_app, spec_for


async def _asyncio_signal() -> None:
    import asyncio  # noqa: PLC0415

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(signum, stop.set)
        except NotImplementedError:  # Windows
            signal.signal(signum, lambda *_: loop.call_soon_threadsafe(stop.set))
    await stop.wait()


async def _trio_signal() -> None:
    import trio  # noqa: PLC0415

    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for _ in signals:
            return


def run(app: Any, options: Options, plan: Plan) -> int:
    from hypercorn.config import Config  # noqa: PLC0415

    config = Config()
    config.bind = [bind(options.host, options.port)]
    config.worker_class = str(plan.worker_class)
    config.root_path = options.root_path
    config.loglevel = options.log_level.upper()
    if options.log_level in ("info", "debug"):
        config.accesslog = "-"
    if options.reload or options.workers:
        # Worker processes (which the reloader needs) load the app by import path.
        from hypercorn.run import run as hypercorn_run  # noqa: PLC0415

        os.environ[SPEC_ENV] = spec_for(options, plan)
        config.application_path = "asgi:" + ENTRY
        config.workers = options.workers or 1
        config.use_reloader = options.reload
        code = hypercorn_run(config)
        if code:
            raise CliError(f"hypercorn stopped with status {code}", EXIT_SERVER)
        return EXIT_OK
    served = served_app(app, plan.kind, plan.speaks, plan.pool_threads)
    if plan.worker_class == "trio":
        import trio  # noqa: PLC0415
        from hypercorn.trio import serve as trio_serve  # noqa: PLC0415

        trio.run(partial(trio_serve, served, config, shutdown_trigger=_trio_signal, mode="asgi"))
        return EXIT_OK
    from hypercorn.asyncio import serve as asyncio_serve  # noqa: PLC0415

    main = asyncio_serve(served, config, shutdown_trigger=_asyncio_signal, mode="asgi")
    if plan.worker_class == "uvloop":
        import uvloop  # noqa: PLC0415

        uvloop.run(main)
    else:
        import asyncio  # noqa: PLC0415

        asyncio.run(main)
    return EXIT_OK


SERVERS = (
    Server(
        "hypercorn",
        ("hypercorn",),
        "hypercorn",
        frozenset({ASGI3}),
        run,
        reloader=True,
        processes=True,
        worker_classes=("asyncio", "uvloop", "trio"),
        default_class="asyncio",
    ),
    Server(
        "hypercorn-trio",
        ("hypercorn", "trio"),
        "hypercorn",
        frozenset({ASGI3}),
        run,
        reloader=True,
        processes=True,
        worker_classes=("trio",),
        default_class="trio",
        variant_of="hypercorn",
    ),
)
