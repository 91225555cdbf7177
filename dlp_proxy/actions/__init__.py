"""What the proxy does to a message besides passing it: encrypt, rewrite, notify."""
