"""The blog's domain: the aggregates over a backend."""

from __future__ import annotations

from evtsrc import Domain
from evtsrc.backends import Backend

from .posts import Post
from .users import User


def make_domain(backend: Backend) -> Domain:
    """The blog domain over ``backend``."""
    return Domain(backend, aggregates=[User, Post])
