"""Run build/sidecar/kafka-sidecar as a child process in tests.

A `SidecarProcess` starts the executable with a Unix socket in its own
temporary directory, writes its stderr and stdout to files, and waits for
the "serving" log line with a deadline. Tests send it signals by PID and
read its exit code and log.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

from . import REPO_ROOT, wait_until

# SIDECAR_EXECUTABLE selects another build of the sidecar, e.g. one from a
# second build directory.
SIDECAR_EXECUTABLE = Path(
    os.environ.get(
        "SIDECAR_EXECUTABLE", REPO_ROOT / "build" / "sidecar" / "kafka-sidecar"
    )
)

# The sidecar logs this word at info level once it accepts calls.
_SERVING = re.compile(r"\bserving\b", re.IGNORECASE)

# Environment variables that configure the sidecar. They are removed from
# the inherited environment so that each test states its configuration.
_CONFIG_ENV_PREFIXES = ("KAFKA_", "SIDECAR_")


class SidecarNotBuiltError(FileNotFoundError):
    """The sidecar executable does not exist."""


class SidecarExitedError(RuntimeError):
    """The sidecar exited before it logged "serving"."""


class SidecarProcess:
    """One kafka-sidecar process listening on a Unix socket.

    The socket lives in a short temporary directory because a Unix socket
    path has at most 107 bytes, which pytest's tmp_path can exceed. Logs go
    to `log_dir`.

    Not thread-safe: use it from the test's thread.
    """

    def __init__(
        self,
        log_dir: Path,
        *,
        bootstrap_servers: str | None = None,
        args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        executable: Path = SIDECAR_EXECUTABLE,
        listen_unix: bool = True,
    ) -> None:
        """Describe a sidecar process; `start()` runs it.

        Args:
            log_dir: Directory for sidecar.stderr.log and sidecar.stdout.log.
            bootstrap_servers: Passed as --bootstrap-servers when given.
            args: Further command-line flags.
            env: Environment variables added to the inherited environment,
                from which every KAFKA_* and SIDECAR_* variable is removed.
            executable: The sidecar executable.
            listen_unix: Whether to pass --listen-unix with the socket path.
                Tests of other listeners pass their own flags in `args`.
        """
        self.executable = executable
        self.log_dir = log_dir
        self.stderr_path = log_dir / "sidecar.stderr.log"
        self.stdout_path = log_dir / "sidecar.stdout.log"
        self._socket_dir = Path(tempfile.mkdtemp(prefix="kafka-sidecar-"))
        self.socket_path = self._socket_dir / "sidecar.sock"

        command = [str(executable)]
        if listen_unix:
            command += ["--listen-unix", str(self.socket_path)]
        if bootstrap_servers is not None:
            command += ["--bootstrap-servers", bootstrap_servers]
        command += list(args)
        self.command = command

        environment = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith(_CONFIG_ENV_PREFIXES)
        }
        environment.update(env or {})
        self.environment = environment

        self._process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        """gRPC target of the Unix socket, e.g. for KAFKA_SIDECAR_ADDRESS."""
        return f"unix://{self.socket_path}"

    @property
    def pid(self) -> int:
        """PID of the running or exited process."""
        return self._started().pid

    def is_running(self) -> bool:
        """Whether the process was started and has not exited."""
        return self._process is not None and self._process.poll() is None

    def start(
        self, *, wait_serving: bool = True, timeout_s: float = 30.0
    ) -> SidecarProcess:
        """Start the process, by default waiting until it logs "serving".

        Args:
            wait_serving: Whether to wait for the "serving" log line. Tests
                of startup errors pass False and call `wait()`.
            timeout_s: Bound for the wait.

        Returns:
            This object, for chaining.

        Raises:
            SidecarNotBuiltError: If the executable does not exist.
            SidecarExitedError: If the process exited before serving.
            TimeoutError: If it did not log "serving" within `timeout_s`.
            RuntimeError: If the process was already started.
        """
        if self._process is not None:
            raise RuntimeError(f"sidecar already started (pid {self._process.pid})")
        if not self.executable.is_file():
            raise SidecarNotBuiltError(
                f"{self.executable} not found: build it with `make build`"
            )
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with (
            open(self.stderr_path, "wb") as stderr,
            open(self.stdout_path, "wb") as stdout,
        ):
            self._process = subprocess.Popen(
                self.command,
                env=self.environment,
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
            )
        if wait_serving:
            self.wait_serving(timeout_s)
        return self

    def wait_serving(self, timeout_s: float = 30.0) -> None:
        """Wait until the sidecar logs "serving" (and its socket exists).

        Raises:
            SidecarExitedError: If the process exited first.
            TimeoutError: If it did not log "serving" within `timeout_s`.
        """
        process = self._started()

        def serving() -> bool:
            if _SERVING.search(self.stderr()):
                return not self._uses_unix_socket() or self.socket_path.exists()
            if process.poll() is not None:
                raise SidecarExitedError(
                    f"sidecar exited with code {process.returncode} before serving.\n{self._log_tail()}"
                )
            return False

        try:
            wait_until(
                serving, timeout_s=timeout_s, description="the sidecar to log 'serving'"
            )
        except TimeoutError:
            raise TimeoutError(
                f"sidecar (pid {process.pid}) did not log 'serving' within {timeout_s:g} s.\n{self._log_tail()}"
            ) from None

    def wait_for_log(self, pattern: str, timeout_s: float = 30.0) -> re.Match[str]:
        """Wait until the stderr log contains a match of the regular expression `pattern`.

        Returns:
            The first match.

        Raises:
            TimeoutError: If nothing matched within `timeout_s`.
        """
        compiled = re.compile(pattern)

        def find() -> re.Match[str] | None:
            return compiled.search(self.stderr())

        try:
            return wait_until(
                find, timeout_s=timeout_s, description=f"log pattern {pattern!r}"
            )
        except TimeoutError:
            raise TimeoutError(
                f"sidecar log did not match {pattern!r} within {timeout_s:g} s.\n{self._log_tail()}"
            ) from None

    def signal(self, sig: signal.Signals) -> None:
        """Send `sig` to the process by its PID.

        Raises:
            ProcessLookupError: If the process has already exited.
        """
        process = self._started()
        if process.poll() is not None:
            raise ProcessLookupError(
                f"sidecar (pid {process.pid}) already exited with code {process.returncode}"
            )
        process.send_signal(sig)

    def wait(self, timeout_s: float = 30.0) -> int:
        """Wait for the process to exit and return its exit code.

        A process ended by a signal returns the negative signal number.

        Raises:
            TimeoutError: If it still runs after `timeout_s`.
        """
        process = self._started()
        try:
            return process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise TimeoutError(
                f"sidecar (pid {process.pid}) still running after {timeout_s:g} s.\n{self._log_tail()}"
            ) from None

    def stop(self, timeout_s: float = 30.0) -> int | None:
        """Stop the process with SIGTERM, then SIGKILL after `timeout_s`.

        Safe to call more than once, and before `start()`.

        Returns:
            The exit code, or None if the process was never started.
        """
        try:
            if self._process is None:
                return None
            if self._process.poll() is None:
                self._process.send_signal(signal.SIGTERM)
                try:
                    self._process.wait(timeout=timeout_s)
                except subprocess.TimeoutExpired:
                    self._process.kill()
                    self._process.wait(timeout=10)
            return self._process.returncode
        finally:
            shutil.rmtree(self._socket_dir, ignore_errors=True)

    def stderr(self) -> str:
        """Return everything the process wrote to stderr so far."""
        if not self.stderr_path.exists():
            return ""
        return self.stderr_path.read_text(errors="replace")

    def stdout(self) -> str:
        """Return everything the process wrote to stdout so far."""
        if not self.stdout_path.exists():
            return ""
        return self.stdout_path.read_text(errors="replace")

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _started(self) -> subprocess.Popen[bytes]:
        if self._process is None:
            raise RuntimeError("sidecar not started: call start() first")
        return self._process

    def _uses_unix_socket(self) -> bool:
        return str(self.socket_path) in self.command

    def _log_tail(self, lines: int = 40) -> str:
        tail = self.stderr().splitlines()[-lines:]
        return f"last {len(tail)} lines of {self.stderr_path}:\n" + "\n".join(tail)
