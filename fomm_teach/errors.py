"""The one exception type the course raises for a user's mistake (bad file, bad config, bad input).

Its message names what is wrong and how to fix it; the command line prints it without a traceback.
"""


class FommTeachError(Exception):
    """A problem the user can fix; ``str(err)`` says what and how."""
