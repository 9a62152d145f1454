"""The console's pages, one module each (see ``sealpost.console`` for how to add one)."""
