"""An audit hook that confines validation subprocesses to their scratch copy (DESIGN §5, defence in depth).

Validation runs untrusted code with the user's rights, so any guard gap would be code execution.
This module (stdlib only) is copied as ``sitecustomize.py`` first on the child's ``PYTHONPATH``;
Python imports it before any user code and it installs ``sys.addaudithook``, which refuses file
writes / deletions outside the allowed roots, process spawning, non-loopback sockets and foreign
``ctypes`` libraries. Each refusal raises ``PermissionError`` and is appended to a log file, so a
refusal the code swallows still fails the validation.
"""

from __future__ import annotations

import ipaddress
import os
import sys
import threading

__all__ = ["install", "ROOTS_ENV", "LOG_ENV", "MARKER", "WRITABLE_FOLDERS"]

ROOTS_ENV = "ASTROAGENT_SANDBOX_ROOTS"
LOG_ENV = "ASTROAGENT_SANDBOX_LOG"
MARKER = "ASTROAGENT_SANDBOX_ACTIVE"

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_PROCESS_EVENTS = {"subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork",
                   "os.forkpty", "pty.spawn", "os.startfile", "_winapi.CreateProcess"}
_PATH_EVENTS = {"os.remove": (0,), "os.rmdir": (0,), "os.rename": (0, 1), "os.truncate": (0,),
                "shutil.rmtree": (0,), "shutil.move": (0, 1), "os.mkdir": (0,), "os.symlink": (1,),
                "os.link": (1,), "os.chmod": (0,), "os.chown": (0,), "os.utime": (0,), "os.removexattr": (0,),
                "os.setxattr": (0,), "shutil.copyfile": (1,), "shutil.copytree": (1,)}
_DIR_FD = {"os.remove": 1, "os.rmdir": 1, "os.mkdir": 2, "os.chmod": 2, "os.chown": 3, "os.utime": 4}
_LOCAL_HOSTS = {"localhost", "ip6-localhost", "ip6-loopback"}


class SandboxRefusal(PermissionError):
    """Raised by the hook: the operation is outside what a validation may do."""


def _text(path: object) -> str | None:
    if isinstance(path, int) or path is None:
        return None
    try:
        return os.fsdecode(path)
    except TypeError:
        return repr(path)


def _loopback(address: object) -> bool:
    if isinstance(address, (str, bytes)):   # AF_UNIX path: judged like a file by the caller
        return False
    if not isinstance(address, tuple) or not address:
        return False
    host = address[0]
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return False
    if host.lower() in _LOCAL_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def _harmless_command(argv: object) -> bool:
    """matplotlib lists fonts with ``fc-list`` when it builds its font cache: fixed, read-only."""
    if not isinstance(argv, (list, tuple)) or not argv:
        return False
    return os.path.basename(str(argv[0])) == "fc-list" and all(
        isinstance(a, str) and (a == "--help" or a.startswith("--format=")) for a in argv[1:])


WRITABLE_FOLDERS = ("tmp", "home", "cache", "config")


def _under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder + os.sep)


class _Hook:
    def __init__(self, roots: list[str], log_path: str | None) -> None:
        self.roots = [os.path.realpath(r) for r in roots if r]
        self.log_path = log_path
        self.local = threading.local()
        # the sandbox's own folder (this hook as sitecustomize, the refusals log) is not the checked
        # code's to change, only the private tmp/home/cache/config folders inside it
        self.own = os.path.dirname(os.path.realpath(log_path)) if log_path else None
        self.own_writable = [os.path.join(self.own, d) for d in WRITABLE_FOLDERS] if self.own else []

    def inside(self, path: object, dir_fd: object = None) -> bool:
        text = _text(path)
        if text is None:
            return True   # a file descriptor: it was opened through an audited call
        if text in ("/dev/null", os.devnull):
            return True
        if not os.path.isabs(text) and isinstance(dir_fd, int) and dir_fd >= 0:   # -100 is AT_FDCWD
            try:
                text = os.path.join(os.readlink(f"/proc/self/fd/{dir_fd}"), text)
            except OSError:
                return False
        real = os.path.realpath(text)
        if self.own and _under(real, self.own) and not any(_under(real, d) for d in self.own_writable):
            return False
        return any(_under(real, root) for root in self.roots)

    def refuse(self, what: str) -> None:
        message = f"sandbox refused {what}"
        if self.log_path:
            try:
                fd = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
                try:
                    os.write(fd, (message.replace("\n", " ") + "\n").encode("utf-8", "replace"))
                finally:
                    os.close(fd)
            except OSError:
                pass
        raise SandboxRefusal(message)

    def __call__(self, event: str, args: tuple) -> None:
        if getattr(self.local, "busy", False):
            return
        self.local.busy = True
        try:
            self.judge(event, args)
        finally:
            self.local.busy = False

    def judge(self, event: str, args: tuple) -> None:
        if event == "open":
            path, mode, flags = (tuple(args) + (None, None, 0))[:3]
            writing = any(c in mode for c in "wax+") if isinstance(mode, str) else bool((flags or 0) & _WRITE_FLAGS)
            if writing and not self.inside(path):
                self.refuse(f"open({_text(path)!r}, {mode or flags!r}) for writing outside the scratch copy")
        elif event in _PATH_EVENTS:
            dir_fd = args[_DIR_FD[event]] if event in _DIR_FD and len(args) > _DIR_FD[event] else None
            for index in _PATH_EVENTS[event]:
                if index < len(args) and not self.inside(args[index], dir_fd):
                    self.refuse(f"{event}({_text(args[index])!r}) outside the scratch copy")
        elif event == "subprocess.Popen" and len(args) > 1 and _harmless_command(args[1]):
            return
        elif event in _PROCESS_EVENTS or event.startswith(("os.exec", "os.spawn", "os.posix_spawn")):
            shown = _text(args[0]) if args else ""
            self.refuse(f"{event}({shown!r}): validation may not start processes")
        elif event in ("os.kill", "os.killpg") and args and args[0] not in (os.getpid(), 0):
            self.refuse(f"{event}{tuple(args)!r}: validation may not signal other processes")
        elif event in ("socket.connect", "socket.sendto", "socket.sendmsg") and len(args) >= 2:
            address = args[1]
            if isinstance(address, (str, bytes)):
                if not self.inside(address):
                    self.refuse(f"{event} to unix socket {_text(address)!r}")
            elif address is not None and not _loopback(address):
                self.refuse(f"{event} to {address!r}: only loopback is allowed during validation")
        elif event == "ctypes.dlopen" and args and args[0] is not None:
            self.refuse(f"ctypes.dlopen({_text(args[0])!r}): validation may not load native libraries")
        elif event == "ctypes.dlsym" and len(args) >= 2:
            library, name = args[0], args[1]
            if getattr(library, "_name", "") is None and not str(name).startswith(("Py", "_Py")):
                self.refuse(f"ctypes.dlsym({name!r}) from the process itself (libc): not allowed")
        elif event in ("ctypes.dlsym/handle", "ctypes.PyObj_FromPtr", "sys.remote_exec"):
            self.refuse(f"{event}: not allowed during validation")


def install(roots: list[str] | None = None, log_path: str | None = None) -> None:
    """Install the hook for this process (it cannot be removed); roots default to ``$ASTROAGENT_SANDBOX_ROOTS``."""
    if roots is None:
        roots = [r for r in os.environ.get(ROOTS_ENV, "").split(os.pathsep) if r]
    if log_path is None:
        log_path = os.environ.get(LOG_ENV) or None
    sys.addaudithook(_Hook(roots, log_path))
    setattr(sys.modules[__name__], MARKER, True)


if __name__ == "sitecustomize":   # copied into the child's PYTHONPATH: arm before any user code runs
    install()
