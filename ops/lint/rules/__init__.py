"""The project's own lint rules, one module per kind of file."""
