"""``paperclip-gitops import``: paperclip-operator Instances (files, stdin, ``kind: List``)
into an app file that synth takes, with every mechanical and safe fix applied and reported
(:mod:`.fixes`), and every choice that needs a person named with the options that make it
(:mod:`.decisions`)."""
