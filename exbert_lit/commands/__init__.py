"""Sub-commands of the `exbert-lit` CLI; each module has `register(subparsers)`."""
