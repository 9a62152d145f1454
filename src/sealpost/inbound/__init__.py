"""Inbound SMTP: listeners, session guards (connection and AUTH limits), Received headers."""
