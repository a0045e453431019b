"""Command-line entry points. They parse arguments and call the library; no physics here."""
