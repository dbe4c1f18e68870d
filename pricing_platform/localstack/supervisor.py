"""The local stack's process manager: supervisord, configured by `services.py`, driven over its
XML-RPC socket. It restarts crashed services, keeps each one's log, and outlives the `up` command."""

from __future__ import annotations

import configparser
import os
import signal
import subprocess
import sys
import time
import xmlrpc.client
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from supervisor.xmlrpc import SupervisorTransport


@dataclass(frozen=True)
class Program:
    name: str
    command: list[str]
    group: str
    user: str | None = None
    directory: Path | None = None
    environment: dict[str, str] = field(default_factory=dict)
    stopsignal: str = "TERM"
    stopwaitsecs: int = 20
    startsecs: int = 1


class Supervisor:
    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.config_path = state_dir / "supervisord.conf"
        self.socket_path = state_dir / "supervisor.sock"
        self.pid_path = state_dir / "supervisord.pid"
        self.log_dir = state_dir / "logs"

    # ---- configuration -----------------------------------------------------------------------------

    def write_config(self, programs: list[Program], group_order: list[str] | None = None) -> None:
        """`group_order` is the start order; supervisord stops groups in the reverse order on shutdown,
        so a producer flushing on SIGINT still has its broker, and the broker still has its storage."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        config = configparser.RawConfigParser()
        config["unix_http_server"] = {"file": str(self.socket_path), "chmod": "0700"}
        config["supervisord"] = {
            "logfile": str(self.log_dir / "supervisord.log"),
            "pidfile": str(self.pid_path),
            "childlogdir": str(self.log_dir),
        }
        config["rpcinterface:supervisor"] = {
            "supervisor.rpcinterface_factory": "supervisor.rpcinterface:make_main_rpcinterface"
        }
        config["supervisorctl"] = {"serverurl": f"unix://{self.socket_path}"}
        groups: dict[str, list[str]] = {}
        for program in programs:
            groups.setdefault(program.group, []).append(program.name)
            section: dict[str, str] = {
                "command": subprocess.list2cmdline(program.command),
                "autostart": "false",
                "autorestart": "true",
                "startsecs": str(program.startsecs),
                "stopsignal": program.stopsignal,
                "stopwaitsecs": str(program.stopwaitsecs),
                "stopasgroup": "true",
                "killasgroup": "true",
                "redirect_stderr": "true",
                "stdout_logfile": str(self.log_dir / f"{program.name}.log"),
                "stdout_logfile_maxbytes": "20MB",
                "stdout_logfile_backups": "2",
            }
            if program.user:
                section["user"] = program.user
            if program.directory:
                section["directory"] = str(program.directory)
            if program.environment:
                section["environment"] = ",".join(
                    f'{key}="{value.replace("%", "%%")}"' for key, value in program.environment.items()
                )
            config[f"program:{program.name}"] = section
        order = group_order or []
        for group, names in groups.items():
            priority = 100 * (order.index(group) + 1) if group in order else 999
            config[f"group:{group}"] = {"programs": ",".join(names), "priority": str(priority)}
        with self.config_path.open("w") as handle:
            config.write(handle)

    # ---- daemon ------------------------------------------------------------------------------------

    def rpc(self) -> Any:
        proxy = xmlrpc.client.ServerProxy(
            "http://127.0.0.1", transport=SupervisorTransport(None, None, f"unix://{self.socket_path}")
        )
        return proxy.supervisor

    def running(self) -> bool:
        if not self.socket_path.exists():
            return False
        try:
            return self.rpc().getState()["statename"] == "RUNNING"
        except (OSError, xmlrpc.client.Fault):
            return False

    def start_daemon(self) -> None:
        if self.running():
            added, changed, removed = self.rpc().reloadConfig()[0]
            for name in removed + changed:
                self.rpc().stopProcessGroup(name)
                self.rpc().removeProcessGroup(name)
            for name in added + changed:
                self.rpc().addProcessGroup(name)
            return
        subprocess.run(
            [sys.executable, "-m", "supervisor.supervisord", "-c", str(self.config_path)], check=True
        )
        deadline = time.monotonic() + 15
        while not self.running():
            if time.monotonic() > deadline:
                raise RuntimeError(f"supervisord did not start; see {self.log_dir / 'supervisord.log'}")
            time.sleep(0.1)

    def is_running(self, name: str) -> bool:
        """`name` is "group:program"."""
        if not self.running():
            return False
        try:
            return self.rpc().getProcessInfo(name)["statename"] == "RUNNING"
        except xmlrpc.client.Fault:
            return False

    def start_group(self, group: str) -> None:
        self.rpc().startProcessGroup(group, True)

    def processes(self) -> list[dict[str, Any]]:
        return self.rpc().getAllProcessInfo() if self.running() else []

    def shutdown(self, timeout_s: float = 60) -> bool:
        if not self.running():
            return False
        # Each service leads its own process group; remember them to sweep up children that outlive
        # their parent (dagster's code servers do).
        groups = [info["pid"] for info in self.processes() if info["pid"]]
        self.rpc().shutdown()
        deadline = time.monotonic() + timeout_s
        while self.socket_path.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        for group in groups:
            _terminate_group(group)
        return True


def _terminate_group(pgid: int, grace_s: float = 5.0) -> None:
    for signum in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pgid, signum)
        except (ProcessLookupError, PermissionError):
            return
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline:
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)
