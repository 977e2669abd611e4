"""The engine in a process of its own, for the OFX plugin: ``python -I -m ofx_dipmatte.worker --fd 3``.

The plugin starts one worker per host process (from the recorded environment's Python,
with the host's ``PYTHON*`` and ``LD_*`` variables removed) when the engine cannot run
inside the host (another Python already there, no shared libpython) or when the artist
asks for it. Every plugin instance keeps its own :class:`~ofx_dipmatte.ofx.bridge.InstanceSession`
here, so warm starts and the frame cache work as in process.

Protocol (one connected ``AF_UNIX`` stream socket, fd 3 in the worker):

- A message is a 4-byte little-endian length, then that many bytes of a UTF-8 JSON object
  with an ``"op"`` key. File descriptors travel as ``SCM_RIGHTS`` on a message's bytes.
- Worker → plugin, once at start: ``{"op": "ready", "pid", "python", "version"}``, or
  ``{"op": "fatal", "message"}`` (then it exits) when the engine cannot be imported.
- Plugin → worker: ``{"op": "render", "id", "session", "time", "params", "source",
  "guide", "clean_plate", "output"}`` with one memfd attached. ``source``, ``guide`` and
  ``clean_plate`` (each may be null but the source) and ``output`` (null when
  ``params.show_only``: a frame shown, not rendered) are ``{"offset",
  "width", "height", "channels", "dtype"}``: packed, top-down images inside that shared
  memory, which the plugin fills (source, guide, clean plate) and reads (output) — pixels
  never cross the socket. ``params`` is the bridge's ``RenderParams``.
- While rendering, worker → plugin: ``{"op": "progress", "id", "fraction"}`` (at most
  10 a second, and at least every few seconds while the closed-form prior is solved;
  the first fraction of 1 always),
  then ``{"op": "done", "id", "status": "ok" | "cancelled" | "memory" | "input" |
  "error", "message"}`` (with "ok", the engine's warnings about the frame, or "").
- Plugin → worker at any time: ``{"op": "cancel", "id"}`` (the host aborted: the solve
  stops at its next iteration), ``{"op": "close", "session"}`` (the instance was
  destroyed), ``{"op": "purge", "session"}`` (drop cached frames).

Requests are served one at a time, in order. The worker exits as soon as the socket
closes: when the host exits, crashes or is killed, the kernel closes its end, so a
worker never outlives its host.
"""

from __future__ import annotations

import argparse
import json
import mmap
import os
import queue
import signal
import socket
import struct
import sys
import threading
import time
from typing import Any, Optional

PROTOCOL_VERSION = 1
HEADER = struct.Struct("<I")
MAX_MESSAGE = 1 << 20  # requests are small: pixels travel in shared memory
MAX_FDS = 4
PROGRESS_INTERVAL = 0.1  # seconds between progress messages
HEARTBEAT_INTERVAL = 2.0  # seconds between messages while nothing else is reported


class Channel:
    """Length-prefixed JSON messages (and file descriptors) over a stream socket."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self._send_lock = threading.Lock()

    def send(self, message: dict[str, Any]) -> None:
        body = json.dumps(message, separators=(",", ":")).encode()
        with self._send_lock:
            self.sock.sendall(HEADER.pack(len(body)) + body)

    def recv(self) -> Optional[tuple[dict[str, Any], list[int]]]:
        """The next message and the descriptors that came with it; None at end of stream."""
        header, fds = self._read(HEADER.size, with_fds=True)
        if header is None:
            return None
        (size,) = HEADER.unpack(header)
        if size > MAX_MESSAGE:
            raise ValueError(f"message of {size} bytes is larger than the protocol allows")
        body, more = self._read(size, with_fds=True)
        fds += more
        if body is None:
            return None
        return json.loads(body), fds

    def _read(self, size: int, with_fds: bool) -> tuple[Optional[bytes], list[int]]:
        data, fds = b"", []
        while len(data) < size:
            chunk, ancillary, _flags, _addr = self.sock.recvmsg(
                size - len(data), socket.CMSG_SPACE(MAX_FDS * 4) if with_fds else 0)
            for level, kind, payload in ancillary:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    fds += list(struct.unpack(f"{len(payload) // 4}i", payload[:len(payload) // 4 * 4]))
            if not chunk:
                for fd in fds:
                    os.close(fd)
                return None, []
            data += chunk
        return data, fds


def image_view(memory: mmap.mmap, layout: Optional[dict[str, Any]]):
    """A numpy view of one packed image inside the shared memory (None when absent)."""
    import numpy as np

    from .ofx.bridge import DTYPES

    if layout is None:
        return None
    dtype = np.dtype(DTYPES[layout["dtype"]])
    shape = (int(layout["height"]), int(layout["width"]), int(layout["channels"]))
    return np.ndarray(shape, dtype=dtype, buffer=memory, offset=int(layout["offset"]))


class Worker:
    """Serves render requests from one host process."""

    def __init__(self, channel: Channel):
        from .ofx.bridge import InstanceSession

        self.channel = channel
        self.session_type = InstanceSession
        self.sessions: dict[int, Any] = {}
        self.requests: "queue.Queue[tuple[dict, list[int]]]" = queue.Queue()
        self.cancelled: set[int] = set()
        self._lock = threading.Lock()

    def read_forever(self) -> None:
        """Reader thread: cancellations take effect at once, the rest is queued in order."""
        try:
            while True:
                received = self.channel.recv()
                if received is None:
                    break
                message, fds = received
                if message.get("op") == "cancel":
                    with self._lock:
                        self.cancelled.add(int(message["id"]))
                    for fd in fds:
                        os.close(fd)
                else:
                    self.requests.put((message, fds))
        except (OSError, ValueError) as exc:
            print(f"ofx_dipmatte worker: {exc}; exiting", file=sys.stderr)
        # The host closed its end (it exited, crashed or was killed): nothing to serve.
        os._exit(0)

    def serve_forever(self) -> None:
        while True:
            message, fds = self.requests.get()
            try:
                self.handle(message, fds)
            finally:
                for fd in fds:
                    os.close(fd)

    def handle(self, message: dict[str, Any], fds: list[int]) -> None:
        op = message.get("op")
        session_id = int(message.get("session", -1))
        if op == "close":
            self.sessions.pop(session_id, None)
        elif op == "purge":
            if session_id in self.sessions:
                self.sessions[session_id].purge()
        elif op == "render":
            self.render(message, fds)
        else:
            print(f"ofx_dipmatte worker: unknown request {op!r} ignored", file=sys.stderr)

    def is_cancelled(self, request_id: int) -> bool:
        with self._lock:
            return request_id in self.cancelled

    def render(self, message: dict[str, Any], fds: list[int]) -> None:
        from .ofx.bridge import describe_error

        request_id = int(message["id"])
        reply: dict[str, Any] = {"op": "done", "id": request_id, "status": "ok", "message": ""}
        last_sent, finished_sent = [0.0], [False]

        def progress(fraction: float) -> bool:
            now = time.monotonic()
            # Fractions go out at most 10 times a second; a zero (the prior's polling) only
            # as a heartbeat, so the plugin knows the worker is alive. The first full
            # fraction always goes, so the host's bar ends full however fast the solve was.
            interval = PROGRESS_INTERVAL if fraction > 0.0 else HEARTBEAT_INTERVAL
            finishing = fraction >= 1.0 and not finished_sent[0]
            if finishing or now - last_sent[0] >= interval:
                last_sent[0], finished_sent[0] = now, finished_sent[0] or fraction >= 1.0
                self.channel.send({"op": "progress", "id": request_id, "fraction": float(fraction)})
            return not self.is_cancelled(request_id)

        try:
            if os.environ.get("OFX_DIPMATTE_WORKER_FAULT") == "hang":  # for tests: a worker stuck in a solve
                time.sleep(1e6)
            if len(fds) != 1:
                raise RuntimeError("a render request came without its shared memory")
            session = self.sessions.get(int(message["session"]))
            if session is None:
                session = self.sessions[int(message["session"])] = self.session_type()
            memory = mmap.mmap(fds[0], 0)
            try:
                # No output when the plugin only shows a frame (``show_only``).
                out_layout = message.get("output") or {"width": 0, "height": 0, "channels": 0, "dtype": "float32"}
                source = image_view(memory, message["source"])
                guide = image_view(memory, message.get("guide"))
                clean_plate = image_view(memory, message.get("clean_plate"))
                output = image_view(memory, message.get("output"))
                image = session.render(message["time"], source, guide, message["params"], progress,
                                       int(out_layout["width"]), int(out_layout["height"]),
                                       int(out_layout["channels"]), out_layout["dtype"], clean_plate=clean_plate)
                if output is not None:
                    output[...] = image
                    reply["message"] = session.warning  # on "ok": what the artist should know
                del source, guide, clean_plate, output  # views must go before the mapping closes
            finally:
                memory.close()
        except BaseException as exc:  # every failure is a reply, never a dead worker
            kind, text = describe_error(exc)
            reply.update(status=kind, message=text)
        with self._lock:
            self.cancelled.discard(request_id)
        self.channel.send(reply)


def _close_inherited_fds(keep: int) -> None:
    """Hosts leak descriptors into children; holding them would keep the host's pipes open."""
    try:
        fds = [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:
        fds = list(range(3, 256))
    for fd in fds:
        if fd > 2 and fd != keep:
            try:
                os.close(fd)
            except OSError:
                pass


#: The worker's ``oom_score_adj`` (-1000 to 1000): when memory runs out, the kernel kills
#: the worker before the host, so the artist's session survives and the render fails with
#: a message (raising one's own score needs no privilege).
OOM_SCORE_ADJ = 500


def _yield_to_the_host_when_memory_runs_out() -> None:
    try:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write(str(OOM_SCORE_ADJ))
    except OSError:  # not Linux, or /proc not mounted: the kernel's own choice stands
        pass


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ofx_dipmatte.worker", description=__doc__.split("\n")[0])
    parser.add_argument("--fd", type=int, required=True, help="the connected socket from the plugin")
    args = parser.parse_args(argv)
    _close_inherited_fds(args.fd)
    # Ctrl-C in the host's terminal is the host's to handle; the socket tells us when it ends.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _yield_to_the_host_when_memory_runs_out()
    channel = Channel(socket.socket(fileno=args.fd))
    try:
        worker = Worker(channel)  # imports the engine: the slow part of starting (torch comes later, with a network)
    except BaseException as exc:
        channel.send({"op": "fatal", "message": f"the engine does not import in {sys.executable}: "
                                                f"{type(exc).__name__}: {exc}"})
        return 1
    import ofx_dipmatte

    channel.send({"op": "ready", "pid": os.getpid(), "python": sys.version.split()[0],
                  "version": ofx_dipmatte.__version__, "protocol": PROTOCOL_VERSION})
    threading.Thread(target=worker.read_forever, name="ofx_dipmatte-reader", daemon=True).start()
    worker.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
