"""Name -> class registries: one class decorator makes an extension available by name.

Estimators (`uncertainty.register_estimator`), equivalences
(`uncertainty.equivalence.register_equivalence`) and predictive routers (`routers.register`)
each have one. A registry is a `dict` (name -> class, in registration order), so it also works
as argparse `choices` that see classes registered after the parser was built.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Iterable
from typing import Any, TypeVar, cast

from confidence_router.errors import ConfigurationError

T = TypeVar("T")
C = TypeVar("C", bound=type)


class Registry(dict[str, type[T]]):
    """Subclasses of `base` by their `attribute` (e.g. `name`); `what` names them in errors."""

    def __init__(self, base: type, attribute: str, what: str) -> None:
        super().__init__()
        self.base = base
        self.attribute = attribute
        self.what = what

    def register(self, cls: C) -> C:
        """Class decorator: register `cls` under `getattr(cls, attribute)`. Registering another
        class under a taken name is refused (a module imported again replaces its own class)."""
        if not (isinstance(cls, type) and issubclass(cls, self.base)):
            raise TypeError(f"a registered {self.what} must subclass {self.base.__name__}")
        name = getattr(cls, self.attribute, None)
        if not isinstance(name, str) or not name:
            raise TypeError(f"{cls.__qualname__} needs a class attribute {self.attribute!r}")
        old = self.get(name)
        if old is not None and _origin(old) != _origin(cls):
            raise ConfigurationError(
                self.what, f"{name!r} is already registered to {'.'.join(_origin(old))}"
            )
        self[name] = cast("type[T]", cls)
        return cls

    def unregister(self, name: str) -> None:
        """Forget `name` (no error when it is not registered)."""
        self.pop(name, None)

    def lookup(self, name: str) -> type[T]:
        """The class registered as `name`; `ConfigurationError` naming the allowed ones."""
        try:
            return self[name]
        except KeyError:
            raise ConfigurationError(
                self.what, f"unknown {self.what} {name!r}; allowed: {', '.join(sorted(self))}"
            ) from None

    def create(self, name: str, **settings: Any) -> T:
        """An instance of the class registered as `name`, built with `settings`."""
        cls = self.lookup(name)
        try:
            inspect.signature(cls).bind(**settings)
        except TypeError as exc:  # a missing or unknown argument: say which class needs what
            raise ConfigurationError(
                self.what, f"{name!r} ({cls.__qualname__}) cannot be built so: {exc}"
            ) from None
        return cls(**settings)


def _origin(cls: type) -> tuple[str, str]:
    return cls.__module__, cls.__qualname__


def import_submodules(package: str, path: Iterable[str]) -> None:
    """Import every module of `package` (its `__name__` and `__path__`), so that the classes
    they decorate register: a new module there needs no import added anywhere."""
    for module in pkgutil.iter_modules(path):
        importlib.import_module(f"{package}.{module.name}")
