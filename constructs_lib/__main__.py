"""`python -m constructs_lib`: the paperclip-gitops command line."""

from constructs_lib.cli import entry

entry()
