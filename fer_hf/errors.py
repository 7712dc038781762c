"""The one error family for users' mistakes.

A `UserError` is a wrong path, flag, file or setting that the user can fix: the scripts print it as one line that
names the file and the fix, and exit with status 2. Anything else is a bug and keeps its traceback. It subclasses
`ValueError`, so library callers that catch `ValueError` keep working. This module imports nothing heavy, so the
console command's `--help` and the ONNX inference path can use it without pulling in torch.
"""


class UserError(ValueError):
    """A problem with the user's input (file, flag, path, network); printed as one line, exit status 2."""
