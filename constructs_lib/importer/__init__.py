"""``paperclip-gitops import``: paperclip-operator Instances (files, stdin, ``kind: List``)
into an app file that synth takes, with every mechanical and safe fix applied and reported
(:mod:`.fixes`), and every choice that needs a person named with the options that make it
(:mod:`.decisions`)."""

from constructs_lib.importer.pipeline import Imported, Options, import_documents, write_app
from constructs_lib.importer.sources import STDIN, read_inputs

__all__ = ["STDIN", "Imported", "Options", "import_documents", "read_inputs", "write_app"]
