"""embridge: fit small bridges between frozen embedding spaces and evaluate zero-shot transfer."""

__version__ = "0.1.0"
