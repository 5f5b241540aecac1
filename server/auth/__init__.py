"""Who is asking: passwords, tokens, sign-in sessions, the principal and the permission policy."""
