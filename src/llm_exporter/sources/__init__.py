"""Sources: files followed (and, later, calls recorded in-process)."""
