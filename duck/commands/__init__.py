"""One module per ``duck`` subcommand. Each exposes ``register(subparsers)`` and keeps
module-level imports to the standard library so ``duck --help`` stays light."""
