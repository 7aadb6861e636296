"""Swap a model's ``torch.nn`` recurrent modules for fastrnn's twins, and back.

As ``torch.ao.quantization`` swaps modules: the model's tree is walked and
every module of exactly the type ``torch.nn.RNN``, ``LSTM`` or ``GRU``
(subclasses, which may have their own forward, are left alone) is replaced
by the twin made with :meth:`~fastrnn.torch.LSTM.from_torch`, which shares
its parameters; the module's forward hooks and forward pre-hooks move to
the twin with it.
"""

from __future__ import annotations

import copy

from torch import nn

from .modules import GRU, LSTM, RNN

__all__ = ["convert", "to_torch"]

#: torch.nn class -> its fastrnn twin.
TWINS = {nn.RNN: RNN, nn.LSTM: LSTM, nn.GRU: GRU}
#: fastrnn twin -> its torch.nn class.
TORCH_CLASSES = {twin: torch_class for torch_class, twin in TWINS.items()}


def _swap(module: nn.Module, make, classes, path: str) -> nn.Module:
    """``module`` with every descendant of a type in ``classes`` replaced by ``make(it)``."""
    if type(module) in classes:
        return _made(make, module, path)
    for name, child in list(module.named_children()):
        where = f"{path}.{name}" if path else name
        if type(child) in classes:
            setattr(module, name, _made(make, child, where))
        else:
            _swap(child, make, classes, where)
    return module


def _made(make, module, path):
    """``make(module)``, with ``module``'s forward hooks; an error names ``path``."""
    try:
        made = make(module)
    except (ValueError, TypeError) as exc:
        where = f"module {path!r}" if path else "the model"
        raise type(exc)(f"cannot convert {where} ({type(module).__name__}): {exc}") from exc
    _carry_hooks(module, made)
    return made


def _carry_hooks(source: nn.Module, target: nn.Module) -> None:
    """Register ``source``'s forward pre-hooks and forward hooks on ``target``,
    in their order and with their ``with_kwargs`` / ``always_call`` settings."""
    pre_kwargs = getattr(source, "_forward_pre_hooks_with_kwargs", {})
    for key, hook in source._forward_pre_hooks.items():
        target.register_forward_pre_hook(hook, with_kwargs=key in pre_kwargs)
    kwargs = getattr(source, "_forward_hooks_with_kwargs", {})
    always = getattr(source, "_forward_hooks_always_called", {})
    for key, hook in source._forward_hooks.items():
        target.register_forward_hook(hook, with_kwargs=key in kwargs, always_call=key in always)


def convert(module: nn.Module, inplace: bool = False, backend: str | None = None) -> nn.Module:
    """A model with every ``nn.RNN``, ``nn.LSTM`` and ``nn.GRU`` run by fastrnn.

    Parameters
    ----------
    module : torch.nn.Module
        Any model (or one recurrent module), on the CPU.
    inplace : bool
        Swap the modules inside ``module`` itself (its parameters stay the
        same objects, so an optimizer made before keeps working); default:
        convert a deep copy and leave ``module`` as it is.
    backend : str, optional
        The fastrnn backend of every twin (``"numpy"``, ``"numba"``,
        ``"cython"``, ``"auto"``); None: fastrnn's default.

    Returns
    -------
    torch.nn.Module
        The converted model (``module`` itself when ``inplace``, unless
        ``module`` is a recurrent module, which is replaced, not changed).

    Raises
    ------
    ValueError
        For a recurrent module fastrnn cannot run (``proj_size``, a GPU
        parameter, a dtype other than float32/float64), naming its path.
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"`module` must be a torch.nn.Module; got {type(module).__name__}")

    def make(child):
        twin = TWINS[type(child)].from_torch(child)
        if backend is not None:
            twin.backend = backend
        return twin

    if not inplace:
        module = copy.deepcopy(module)
    return _swap(module, make, TWINS, "")


def to_torch(module: nn.Module, inplace: bool = False) -> nn.Module:
    """A model with every fastrnn twin replaced by its ``torch.nn`` module.

    The inverse of :func:`convert`: the ``torch.nn`` modules share the twins'
    parameters.

    Parameters
    ----------
    module : torch.nn.Module
    inplace : bool
        Swap inside ``module`` itself; default: a deep copy.

    Returns
    -------
    torch.nn.Module
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"`module` must be a torch.nn.Module; got {type(module).__name__}")
    if not inplace:
        module = copy.deepcopy(module)
    return _swap(module, lambda twin: twin.to_torch(), TORCH_CLASSES, "")
