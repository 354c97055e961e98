"""Posts: written by an existing user, archived only by their author."""

from __future__ import annotations

from evtsrc import Aggregate, CommandError, Event, command, folds

from .users import User


class PostCreated(Event, type_name="post.created"):
    user_id: str
    content: str


class PostArchived(Event, type_name="post.archived"):
    pass


class Post(Aggregate, stream="posts"):
    user_id: str = ""
    content: str = ""
    archived: bool = False

    @folds
    def _created(self, event: PostCreated) -> None:
        self.user_id = event.user_id
        self.content = event.content

    @folds
    def _archived(self, event: PostArchived) -> None:
        self.archived = True

    @command
    async def create(self, user_id: str, content: str) -> PostCreated:
        if self.version:
            raise CommandError("Post already exists", code="POST_EXISTS")
        author = await self.load(User, user_id)
        if not author.version:
            raise CommandError("Unauthorized", code="UNAUTHORIZED")
        return PostCreated(user_id=user_id, content=content)

    @command
    def archive(self, user_id: str) -> PostArchived | None:
        if user_id != self.user_id:
            raise CommandError("Not allowed", code="NOT_ALLOWED")
        if self.archived:
            return None
        return PostArchived()
