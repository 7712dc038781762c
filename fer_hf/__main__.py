"""`python -m fer_hf ...` is the `fer-hf` command."""

from .commands import main


main()
