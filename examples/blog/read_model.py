"""The posts read model: one row per post, kept up to date by an event handler."""

from __future__ import annotations

import attrs

from evtsrc import EventHandler, EventMeta, on_event

from .posts import PostArchived, PostCreated


@attrs.define
class PostRow:
    post_id: str
    user_id: str
    content: str
    archived: bool = False


class PostsModel(EventHandler, name="posts-model"):
    """Keeps ``rows`` in step with the ``posts`` stream."""

    def __init__(self) -> None:
        self.rows: dict[str, PostRow] = {}

    @on_event
    def created(self, event: PostCreated, meta: EventMeta) -> None:
        self.rows[meta.aggregate_id] = PostRow(meta.aggregate_id, event.user_id, event.content)

    @on_event
    def archived(self, event: PostArchived, meta: EventMeta) -> None:
        self.rows[meta.aggregate_id].archived = True

    async def on_reset(self) -> None:
        self.rows.clear()
