"""Personal data: subjects' keys and the cipher, photos, password hashes."""
