"""The users-and-posts example: two aggregates and a read model built by a handler."""
