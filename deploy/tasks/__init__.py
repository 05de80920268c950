"""pyinfra tasks: one module per concern, each a named @deploy function."""
