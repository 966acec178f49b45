"""Wrappers for coroutine functions and async generator functions (see ``wrap.py``).

The active execution is set around each step in the task that runs it, so calls the
coroutine makes, and tasks it creates, belong to its execution.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from types import FunctionType
from typing import Any

from astroagent.watch._session import Session
from astroagent.watch.wrap import Call

__all__ = ["watch_coroutine", "watch_async_generator"]


def watch_coroutine(func: FunctionType, current: Session, method: str, package: str,
                    skip_first: bool) -> Callable[..., Any]:
    perf = time.perf_counter

    async def watched(*args: Any, **kwargs: Any) -> Any:
        call = Call(current, method, package, args, kwargs, skip_first)
        token, start = call.enter(), perf()
        try:
            result = await func(*args, **kwargs)
        except BaseException as exc:
            call.stop(start, exc)
            raise
        finally:
            call.leave(token)
        call.stop(start)
        return result

    return watched


def watch_async_generator(func: FunctionType, current: Session, method: str, package: str,
                          skip_first: bool) -> Callable[..., Any]:
    perf = time.perf_counter

    async def watched(*args: Any, **kwargs: Any) -> Any:
        call = Call(current, method, package, args, kwargs, skip_first)
        agen, sent, thrown = func(*args, **kwargs), None, None
        while True:
            token, start = call.enter(), perf()
            try:
                item = await (agen.asend(sent) if thrown is None else agen.athrow(thrown))
            except StopAsyncIteration:
                call.stop(start)
                return
            except BaseException as exc:
                call.stop(start, exc)
                raise
            finally:
                call.leave(token)
            call.elapsed += perf() - start
            thrown = None
            try:
                sent = yield item
            except GeneratorExit:
                await _aclose(call, agen)
                raise
            except BaseException as exc:
                thrown = exc

    return watched


async def _aclose(call: Call, agen: Any) -> None:
    token, start = call.enter(), time.perf_counter()
    try:
        await agen.aclose()
    except BaseException as exc:
        call.stop(start, exc)
        raise
    finally:
        call.leave(token)
    call.stop(start)
