"""Pure values shared by every layer; this package imports nothing else of Sealpost's."""
