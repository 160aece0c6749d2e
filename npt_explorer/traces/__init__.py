"""Traces of real programs: file readers (`files`) and the `trace` verb (`verb`)."""
