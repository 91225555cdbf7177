"""Actions on outgoing mail: rewrite, encrypt, tag, and the notices that go with them."""
