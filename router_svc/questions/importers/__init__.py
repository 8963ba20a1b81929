"""Importers: your own questions into a suite folder (``suite``), shared row readers (``tables``)
and the rules both the suite and the replay importers follow (``common``)."""
