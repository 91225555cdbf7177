"""The policy in force: loaded at start, reloaded on file change or SIGHUP, last good one kept."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

from dlp_proxy import metrics
from dlp_proxy.policy.errors import PolicyError
from dlp_proxy.policy.load import LoadedPolicy, load_policy, policy_files

log = logging.getLogger("dlp_proxy.policy")

POLL_SECONDS = 2.0


class PolicyStore:
    """Holds one immutable LoadedPolicy; a reload swaps it whole, so no message sees half of one."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.current: LoadedPolicy = load_policy(directory)
        self._stamp = self._fingerprint()
        self._lock = asyncio.Lock()
        self._watcher: asyncio.Task[None] | None = None

    def _fingerprint(self) -> tuple[tuple[str, int, int], ...]:
        try:
            paths = policy_files(self.directory)
        except OSError:
            paths = []
        directory_file = self.current.policy.config.directory
        if directory_file is not None:
            paths.append(self.directory / directory_file)
        stamp = []
        for path in paths:
            try:
                info = path.stat()
            except OSError:
                continue
            stamp.append((str(path), info.st_mtime_ns, info.st_size))
        return tuple(stamp)

    async def reload(self, *, cause: str) -> bool:
        """Load the directory again; on any problem keep the policy in force and log why."""
        async with self._lock:
            self._stamp = self._fingerprint()
            try:
                loaded = await asyncio.to_thread(load_policy, self.directory)
            except PolicyError as exc:
                metrics.POLICY_RELOADS.labels("refused").inc()
                log.error(
                    "policy refused, keeping the previous one",
                    extra={
                        "cause": cause,
                        "version": self.current.policy.version,
                        "problems": [str(p) for p in exc.problems],
                    },
                )
                return False
            metrics.POLICY_RELOADS.labels("loaded").inc()
            if loaded.policy.version != self.current.policy.version:
                self.current = loaded
                log.info(
                    "policy loaded",
                    extra={
                        "cause": cause,
                        "version": loaded.policy.version,
                        "rules": len(loaded.policy.rules),
                    },
                )
            return True

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(POLL_SECONDS)
            if self._fingerprint() != self._stamp:
                await self.reload(cause="file change")

    def start_watching(self) -> None:
        self._watcher = asyncio.get_running_loop().create_task(self._watch())

    async def stop_watching(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
