"""Built-in key/value caches."""
