"""PyTorch integration: checkpoint a model and its optimizer through pccheckd.

    ckpt = pccheck.torch.Checkpointer(model, optimizer, job="gpt2",
                                      extra_state=lambda: {"batch": batch})
    step, extra = ckpt.restore()            # (None, None) when nothing is committed
    ...
    ckpt.save(step)                         # returns at once

save() hands the daemon the state of this moment and returns; the optimizer's
next step waits (a step pre-hook installed here) until the daemon holds its
copy, so training code needs no other call. Tensors live where they are (CUDA
tensors are read through CUDA IPC); host parameters and optimizer state are
moved into memory the daemon shares, so nobody copies them in the trainer.
Everything that is not a tensor (param groups, non-tensor state, RNG states,
extra_state()) is pickled into the checkpoint's user blob.
"""
import types
import warnings

import torch

from . import _rng, blob
from ._registry import Registry
from ._state import collect, optimizer_params
from .client import Client
from .errors import EINVAL, CheckpointNotFound, PccheckError

__all__ = ["Checkpointer"]


def _default_rank():
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank()
    return 0


def _install_step_hook(optimizer, hook):
    """Calls hook() before every optimizer.step(): register_step_pre_hook
    (torch >= 2.0), else a wrapper around the bound step method (kept a bound
    method so torch 1.13's LR schedulers can wrap it again)."""
    if hasattr(optimizer, "register_step_pre_hook"):
        optimizer.register_step_pre_hook(lambda opt, args, kwargs: hook())
        return
    original = optimizer.step

    def step(self, *args, **kwargs):
        hook()
        return original(*args, **kwargs)

    optimizer.step = types.MethodType(step, optimizer)


def _stream():
    return torch.cuda.current_stream().cuda_stream


class Checkpointer:
    """Checkpoints `model` and `optimizer` (either may be None) as job/rank.

    rank: default torch.distributed's rank when initialized, else 0.
    socket: pccheckd's socket; None for the default.
    snapshot: "direct" (the daemon copies the tensors) or "gpu" (each save
      copies CUDA tensors into a daemon-owned GPU buffer; the fastest to free
      the tensors, costs GPU memory).
    on_error: "raise" (PccheckError) or "warn": a failed or refused checkpoint,
      the daemon being down included, is reported with warnings.warn and
      training goes on; later saves reconnect. restore() always raises.
    extra_state: a function returning picklable trainer state (the data
      position, a scheduler's state_dict(), ...), saved with every checkpoint
      and returned by restore().
    """

    def __init__(self, model, optimizer, *, job, rank=None, socket=None, snapshot="direct",
                 on_error="raise", extra_state=None):
        if snapshot not in ("direct", "gpu"):
            raise ValueError('snapshot must be "direct" or "gpu", not %r' % (snapshot,))
        if on_error not in ("raise", "warn"):
            raise ValueError('on_error must be "raise" or "warn", not %r' % (on_error,))
        self.model, self.optimizer = model, optimizer
        self.job, self.socket, self.on_error = job, socket, on_error
        self.rank = _default_rank() if rank is None else rank
        self._extra_state = extra_state
        self._registry = Registry(snapshot_gpu=snapshot == "gpu")
        self._client = None
        self._pending = False  # a save whose snapshot the next update must wait for
        self._closed = False
        if optimizer is not None:
            _install_step_hook(optimizer, self._before_update)
        if self._connect():
            self._guard("registering the tensors", self._sync)

    # ---- errors and the connection -------------------------------------------------

    def _fail(self, error, what):
        if self.on_error == "raise":
            raise error
        warnings.warn("pccheck: %s failed; training goes on: %s" % (what, error),
                      RuntimeWarning, stacklevel=4)

    def _guard(self, what, fn, *args):
        """fn(*args), or None after _fail when it raised PccheckError."""
        try:
            return fn(*args)
        except PccheckError as e:
            self._fail(e, what)
            return None

    def _connect(self):
        if self._client is None:
            try:
                self._client = Client(self.job, self.rank, self.socket)
            except PccheckError as e:
                self._fail(e, "connecting to pccheckd")
                return False
            self._registry.reset()
        return True

    def _require_client(self):
        if self._closed:
            raise PccheckError(EINVAL, "this Checkpointer is closed")
        if self._client is None:
            self._client = Client(self.job, self.rank, self.socket)
            self._registry.reset()
        return self._client

    def _collect(self):
        return collect(self.model, self.optimizer)

    def _sync(self):
        return self._registry.sync(self._client, self._collect)

    # ---- saving --------------------------------------------------------------------

    def save(self, step):
        """Starts a checkpoint of the current state as `step` and returns its
        ticket at once (None when it failed with on_error="warn")."""
        if self._closed:
            raise PccheckError(EINVAL, "this Checkpointer is closed")
        if not self._connect():
            return None
        return self._guard("the checkpoint of step %d" % step, self._save, step)

    def _save(self, step):
        if self._pending and self._registry.mirrors:
            self._before_update()  # the mirrors still hold the last save's snapshot
        collected = self._sync()
        self._registry.fill_mirrors()
        state = {
            "version": 1,
            "step": step,
            "tensors": list(self._registry.names),
            "aliases": collected.aliases,
            "model_extra": collected.model_extra,
            "param_groups": (self.optimizer.state_dict()["param_groups"]
                             if self.optimizer is not None else []),
            "optim_extra": collected.optim_extra,
            "rng": _rng.get_state(),
            "extra": self._extra_state() if self._extra_state is not None else None,
        }
        stream = _stream() if self._registry.cuda else None
        ticket = self._client.save(step, blob.pack(state), stream=stream)
        self._pending = True
        return ticket

    def _before_update(self):
        """The optimizer step pre-hook: the update waits for the daemon's copy."""
        if not self._pending or self._client is None or self._closed:
            return
        self._pending = False
        if self._registry.cuda:
            self._guard("ordering the update after the snapshot",
                        self._client.before_update, -1, _stream())
        else:
            self._guard("waiting for the snapshot", self._client.before_update)

    def wait(self, timeout_ms=-1):
        """Waits until every save so far has ended. True when they committed
        (a save replaced by a newer committed one counts: newest wins); with
        on_error="warn", False (and a warning) when one failed."""
        if self._client is None:
            return False
        try:
            self._client.wait_all(timeout_ms)
            return True
        except PccheckError as e:
            self._fail(e, "waiting for the checkpoints")
            return False

    def wait_durable(self, timeout_ms=-1):
        """Waits until the newest checkpoint requested so far is durable. True
        when it is; with on_error="warn", False (and a warning) when not."""
        if self._client is None:
            return False
        try:
            self._client.wait_durable(timeout_ms)
            return True
        except PccheckError as e:
            self._fail(e, "waiting for the newest checkpoint to become durable")
            return False

    def poll(self, ticket):
        """pccheck.PENDING, SNAPSHOT_DONE, COMMITTED, COALESCED or FAILED for a
        save's ticket."""
        return self._require_client().poll(ticket)

    def newest_snapshot_step(self):
        """The newest step whose snapshot is complete: in the daemon's memory
        (a recovery point, not yet durable) or on disk; None when none."""
        return self._require_client().newest_snapshot_step()

    def newest_durable_step(self):
        """The newest durable (committed) step, or None."""
        return self._require_client().newest_durable_step()

    # ---- what is committed ---------------------------------------------------------

    def latest_step(self):
        """The newest committed step of this job and rank, or None."""
        return self._require_client().latest_step()

    def steps(self):
        """The committed steps of this job and rank, oldest first."""
        return sorted(e.step for e in self._require_client().list())

    # ---- restoring -----------------------------------------------------------------

    def restore(self, step=None, group=None):
        """Restores `step` (None: the newest committed that verifies) into the
        live model and optimizer; returns (step, extra), (None, None) when
        nothing is committed. group (a torch.distributed group, or True for the
        default group): all ranks restore the newest step every rank has
        committed. Errors always raise."""
        client = self._require_client()
        if group is not None and group is not False and step is None:
            step = self._agreed_step(client, None if group is True else group)
            if step is None:
                return None, None
        elif step is None and not client.list():
            return None, None
        created = self._init_optimizer_state()
        if self._registry.cuda or any(t.is_cuda for t in self._collect_tensors()):
            torch.cuda.synchronize()
        try:
            self._sync()
            restored, data = client.restore(step)
        except CheckpointNotFound as e:
            if not created or "'optim/" not in str(e):
                raise
            self.optimizer.state.clear()  # saved before the optimizer's first step
            self._sync()
            restored, data = client.restore(step)
        if self._registry.cuda:
            torch.cuda.synchronize()
        self._registry.drain_mirrors()
        self._pending = False
        state = blob.unpack(data)
        self._apply(state, restored)
        return restored, state.get("extra")

    def _collect_tensors(self):
        return [s.tensor for s in self._collect().slots]

    def _agreed_step(self, client, group):
        dist = torch.distributed
        if not (dist.is_available() and dist.is_initialized()):
            raise ValueError("restore(group=...) needs torch.distributed to be initialized")
        mine = sorted(e.step for e in client.list())
        everyone = [None] * dist.get_world_size(group)
        dist.all_gather_object(everyone, mine, group=group)
        common = set(everyone[0]).intersection(*everyone[1:])
        return max(common) if common else None

    def _init_optimizer_state(self):
        """Creates the optimizer's lazily made state (as a step with zero
        gradients and lr 0 does) so that restore has tensors to fill."""
        opt = self.optimizer
        if opt is None or len(opt.state) > 0:
            return False
        params = [p for _, p in optimizer_params(opt) if p.requires_grad]
        if not params or any(p.grad is not None for p in params):
            return False
        for p in params:
            p.grad = torch.zeros_like(p)
        lrs = [g.get("lr") for g in opt.param_groups]
        for g in opt.param_groups:
            if "lr" in g:
                g["lr"] = torch.tensor(0.0) if isinstance(g["lr"], torch.Tensor) else 0.0
        opt.step()
        for g, lr in zip(opt.param_groups, lrs):
            if lr is not None:
                g["lr"] = lr
        for p in params:
            p.grad = None
        return True

    def _apply(self, state, step):
        missing = sorted(set(state["tensors"]) - set(self._registry.names))
        if missing:
            raise PccheckError(EINVAL, "the checkpoint of step %d holds tensors this model and "
                               "optimizer lack, so they were not restored: %s"
                               % (step, ", ".join(missing[:8])))
        for key, value in state["model_extra"].items():
            path = key.rpartition(".")[0]
            self.model.get_submodule(path).set_extra_state(value)
        opt = self.optimizer
        if opt is not None:
            groups = state["param_groups"]
            if len(groups) != len(opt.param_groups):
                raise PccheckError(EINVAL, "the checkpoint of step %d has %d param groups, the "
                                   "optimizer %d" % (step, len(groups), len(opt.param_groups)))
            for live, saved in zip(opt.param_groups, groups):
                live.update({k: v for k, v in saved.items() if k != "params"})
            params = dict(optimizer_params(opt))
            for index, values in state["optim_extra"].items():
                opt.state[params[index]].update(values)
        _rng.set_state(state["rng"])

    # ---- the end -------------------------------------------------------------------

    def close(self):
        """Ends the session (saves already snapshotted still commit) and moves
        tensors out of the shared memory it unmaps."""
        if self._closed:
            return
        if self._client is not None:
            self._before_update()
            self._registry.unbind(self._collect())
            self._client.close()
            self._client = None
        self._closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
