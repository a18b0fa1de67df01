"""The package's exceptions."""

from __future__ import annotations


class WorkerError(RuntimeError):
    """A simulator worker failed: it raised, died, or stopped answering.

    Attributes:
        index: The worker's index in ``sim_devices``.
        device: The worker's simulation device.
        worker_traceback: The worker's own traceback when it raised, else a description of how
            the process ended.
    """

    def __init__(self, index: int, device: str, worker_traceback: str):
        self.index = index
        self.device = device
        self.worker_traceback = worker_traceback
        super().__init__(f"simulator worker {index} on device {device!r} failed:\n{worker_traceback}")

    def __reduce__(self):
        return type(self), (self.index, self.device, self.worker_traceback)
