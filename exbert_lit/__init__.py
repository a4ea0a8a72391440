"""exbert-lit: exBERT's attention view and corpus search as a plugin for Google's LIT."""

__version__ = "0.1.0"
