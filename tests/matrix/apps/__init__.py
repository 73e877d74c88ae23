"""One module per framework, each with the same routes (see ``_common``)."""
