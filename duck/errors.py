"""Errors that mean "the user gave bad input": the CLI prints them as one line."""


class UserError(Exception):
    """A user's mistake (bad path, bad config, bad override, ...). Printed without traceback."""
