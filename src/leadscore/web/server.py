"""An ASGI app served by uvicorn on a thread of the daemon (or in the foreground for ``leadscore console``).

The socket is bound before the server starts, so a port in use fails at once with its name, and port 0 gives a
free port whose number the caller learns. uvicorn installs no signal handlers off the main thread: the daemon
keeps its own.
"""

from __future__ import annotations

import socket
import threading
import time

import uvicorn
from starlette.applications import Starlette

from leadscore.errors import ConfigError

STARTUP_SECONDS = 10.0


class HttpServer:
    def __init__(self, app: Starlette, host: str, port: int) -> None:
        self.host = host
        self.requested_port = port
        self.config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_keep_alive=5,
            server_header=False,
        )
        self.server = uvicorn.Server(self.config)
        self.thread: threading.Thread | None = None
        self.port = 0

    def bind(self) -> socket.socket:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.requested_port))
        except OSError as exc:
            sock.close()
            raise ConfigError(
                f"cannot listen on {self.host}:{self.requested_port} ({exc.strerror}): another process holds the "
                "port, or the address is not this machine's; set LEADSCORE_HTTP_PORT to a free port (0 picks one) "
                "or stop the process that holds it"
            ) from None
        sock.set_inheritable(True)
        self.port = int(sock.getsockname()[1])
        return sock

    def start(self) -> int:
        """Serve on a thread; returns the port once the server accepts connections."""
        sock = self.bind()
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]}, name="http", daemon=True)
        self.thread.start()
        deadline = time.monotonic() + STARTUP_SECONDS
        while not self.server.started and self.thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.port

    def stop(self) -> None:
        self.server.should_exit = True
        if self.thread is not None:
            self.thread.join(5)
