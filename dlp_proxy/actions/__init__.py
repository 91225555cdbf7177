"""Pure message rewriting for the actions a policy takes: encrypt, Bcc conversion, tags."""
