"""Users: created, then enabled or disabled."""

from __future__ import annotations

from evtsrc import Aggregate, CommandError, Event, JSONObject, command, folds, upcaster


class UserCreated(Event, type_name="user.created", version=2, aliases=("user.registered",)):
    """Version 1 was stored as "user.registered" with the name under "username"."""

    name: str


@upcaster(UserCreated, from_version=1)
def _username_is_name(data: JSONObject) -> JSONObject:
    return {"name": data["username"]}


class UserDisabled(Event, type_name="user.disabled"):
    pass


class UserEnabled(Event, type_name="user.enabled"):
    pass


class User(Aggregate, stream="users"):
    name: str = ""
    enabled: bool = False

    @folds
    def _created(self, event: UserCreated) -> None:
        self.name = event.name
        self.enabled = True

    @folds
    def _toggled(self, event: UserEnabled | UserDisabled) -> None:
        self.enabled = isinstance(event, UserEnabled)

    @command
    def create(self, name: str) -> UserCreated:
        if self.version:
            raise CommandError("User already exists", code="USER_EXISTS")
        if not name.strip():
            raise CommandError("A user needs a name", code="NAME_REQUIRED")
        return UserCreated(name=name)

    @command
    def enable(self) -> UserEnabled | None:
        return None if self.enabled else UserEnabled()

    @command
    def disable(self) -> UserDisabled | None:
        return UserDisabled() if self.enabled else None
