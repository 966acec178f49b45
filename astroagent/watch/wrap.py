"""The wrappers ``watch`` puts around a watched package's functions.

Each wrapper keeps what callers can see: ``functools.wraps`` metadata and signature, a
generator stays a generator function (``send``/``throw``/``close`` and the return value pass
through, PEP 380), a coroutine a coroutine function, an async generator an async generator
function; ``classmethod``/``staticmethod``/``property`` are rebuilt around the wrapped
function; anything else a decorator made (``lru_cache``, compiled functions, click commands)
is left as it is. A call with no execution active opens one (``--execution call``); calls
inside it are method events. The wrapper's own frame is taken out of exception tracebacks,
so a failing program prints the same traceback as without watch.
"""

from __future__ import annotations

import functools
import inspect
import os
import time
from collections.abc import Callable
from types import FunctionType
from typing import Any

from astroagent.telemetry import call_digest
from astroagent.watch._session import ACTIVE, MUTED, Session, session
from astroagent.watch.hook import config

__all__ = ["decorator", "watch_function"]

_CO_ITERABLE_COROUTINE = inspect.CO_ITERABLE_COROUTINE
_MARK = "__astroagent_instrumented__"
_HERE = os.path.dirname(__file__) + os.sep


def _hide(exc: BaseException) -> None:
    """Drop watch's frames from the head of ``exc``'s traceback (a bare ``raise`` adds none back)."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename.startswith(_HERE):
        tb = tb.tb_next
    exc.__traceback__ = tb


_NO_ARGS = call_digest((), {})
_PLAIN = frozenset({int, float, str, bytes, bool, complex, type(None)})  # serialised without calling their code


def _digest(args: tuple[Any, ...], kwargs: dict[str, Any], skip_first: bool) -> str:
    if skip_first:
        args = args[1:]
    if not kwargs:
        if not args:
            return _NO_ARGS
        if type(args[0]) in _PLAIN if len(args) == 1 else all(map(_PLAIN.__contains__, map(type, args))):
            return call_digest(args, kwargs)      # never raises: what JSON cannot hold is digested by repr
    token = ACTIVE.set(MUTED)  # repr() of an argument may be watched code: not a call of the program
    try:
        return call_digest(args, kwargs)
    finally:
        ACTIVE.reset(token)


def decorator(module: str, qualname: str) -> Callable[[Any], Any]:
    """The decorator ``_source`` adds to ``module``'s function ``qualname``."""
    cfg = config()
    package = cfg.package_of(module) if cfg else None

    def decorate(obj: Any) -> Any:
        if package is None or cfg is None:
            return obj
        try:
            return _decorate(obj, session(cfg), qualname, package)
        except Exception:  # never break the program's import: leave the function unwatched
            return obj

    return decorate


def _decorate(obj: Any, current: Session, method: str, package: str) -> Any:
    kind = type(obj)
    if kind is FunctionType:
        return watch_function(obj, current, method, package)
    if kind in (staticmethod, classmethod) and type(obj.__func__) is FunctionType:
        return kind(watch_function(obj.__func__, current, method, package))
    if kind is property:
        parts = [watch_function(f, current, method, package) if type(f) is FunctionType else f
                 for f in (obj.fget, obj.fset, obj.fdel)]
        return property(*parts, obj.__doc__)
    return obj


def watch_function(func: FunctionType, current: Session, method: str, package: str) -> Callable[..., Any]:
    """``func`` wrapped: timed, its errors recorded, an execution opened when it is the outermost call."""
    code = func.__code__
    if getattr(func, _MARK, False) or code.co_flags & _CO_ITERABLE_COROUTINE:
        return func  # already instrumented, or a generator-based coroutine (@types.coroutine)
    skip_first = code.co_argcount > 0 and code.co_varnames[0] in ("self", "cls")
    if inspect.iscoroutinefunction(func):
        from astroagent.watch._async import watch_coroutine as make
    elif inspect.isasyncgenfunction(func):
        from astroagent.watch._async import watch_async_generator as make
    elif inspect.isgeneratorfunction(func):
        make = _watch_generator
    else:
        make = _watch_plain
    wrapper = functools.wraps(func)(make(func, current, method, package, skip_first))
    setattr(wrapper, _MARK, True)
    return wrapper


def _watch_plain(func: FunctionType, current: Session, method: str, package: str,
                 skip_first: bool) -> Callable[..., Any]:
    perf, get = time.perf_counter, ACTIVE.get

    def watched(*args: Any, **kwargs: Any) -> Any:
        run = get()
        if run is None:
            run = current.process_run
            if run is None:
                try:
                    return _outermost(func, args, kwargs, current, method, package, skip_first)
                except BaseException as exc:
                    _hide(exc)
                    raise
        digest = _digest(args, kwargs, skip_first)
        start = perf()
        try:
            result = func(*args, **kwargs)
        except BaseException as exc:
            _hide(exc)
            current.failed(run, method, exc, perf() - start, digest)
            raise
        try:  # inlined Session.succeeded: this is the hot path
            run.telemetry.record_success(run.id, method, perf() - start, digest)
        except Exception as err:
            current.lost(err)
        return result

    return watched


def _outermost(func: FunctionType, args: tuple[Any, ...], kwargs: dict[str, Any], current: Session,
               method: str, package: str, skip_first: bool) -> Any:
    run = current.begin(package, method)
    token = ACTIVE.set(run)
    try:
        digest = _digest(args, kwargs, skip_first)
        cpu, start = time.process_time(), time.perf_counter()
        try:
            result = func(*args, **kwargs)
        except BaseException as exc:
            duration = time.perf_counter() - start
            _hide(exc)
            current.failed(run, method, exc, duration, digest)
            current.end(run, duration, time.process_time() - cpu, exc)
            raise
        duration = time.perf_counter() - start
        current.succeeded(run, method, duration, digest)
        current.end(run, duration, time.process_time() - cpu, None)
        return result
    finally:
        ACTIVE.reset(token)


class Call:
    """One call of a watched generator or coroutine: its execution (opened when it is the
    outermost call) and the time spent inside it, summed over its steps."""

    __slots__ = ("current", "method", "run", "owner", "digest", "elapsed", "cpu")

    def __init__(self, current: Session, method: str, package: str, args: tuple[Any, ...],
                 kwargs: dict[str, Any], skip_first: bool):
        self.current, self.method, self.elapsed = current, method, 0.0
        run = ACTIVE.get()
        if run is None:
            run = current.process_run
        self.owner = run is None
        self.run = current.begin(package, method) if run is None else run
        self.cpu = time.process_time()
        self.digest = _digest(args, kwargs, skip_first)

    def enter(self) -> Any:
        return ACTIVE.set(self.run) if self.owner else None

    @staticmethod
    def leave(token: Any) -> None:
        if token is not None:
            try:
                ACTIVE.reset(token)
            except ValueError:  # resumed from another context than the one that set it
                ACTIVE.set(None)

    def stop(self, start: float, exc: BaseException | None = None) -> None:
        """The last step (begun at ``start``) returned, raised or closed the call: record it."""
        self.elapsed += time.perf_counter() - start
        if exc is not None:
            _hide(exc)
        self.finish(exc)

    def finish(self, exc: BaseException | None) -> None:
        if exc is None or isinstance(exc, GeneratorExit):
            self.current.succeeded(self.run, self.method, self.elapsed, self.digest)
            exc = None
        else:
            self.current.failed(self.run, self.method, exc, self.elapsed, self.digest)
        if self.owner:
            self.current.end(self.run, self.elapsed, time.process_time() - self.cpu, exc)


def _watch_generator(func: FunctionType, current: Session, method: str, package: str,
                     skip_first: bool) -> Callable[..., Any]:
    perf = time.perf_counter

    def watched(*args: Any, **kwargs: Any) -> Any:
        call = Call(current, method, package, args, kwargs, skip_first)
        gen, sent, thrown = None, None, None
        while True:
            token, start = call.enter(), perf()
            try:
                if gen is None:
                    gen = func(*args, **kwargs)
                item = gen.send(sent) if thrown is None else gen.throw(thrown)
            except StopIteration as stop:
                call.stop(start)
                return stop.value
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
                _close(call, gen.close)
                raise
            except BaseException as exc:
                thrown = exc

    return watched


def _close(call: Call, close: Callable[[], Any]) -> None:
    token, start = call.enter(), time.perf_counter()
    try:
        close()
    except BaseException as exc:
        call.stop(start, exc)
        raise
    finally:
        call.leave(token)
    call.stop(start)
