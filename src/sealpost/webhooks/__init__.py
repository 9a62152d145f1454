"""Webhook delivery: SparkPost-shaped event batches POSTed to HTTPS receivers.

``definition`` holds what a webhook is (and its validation), ``payload`` the batch shape,
``credentials`` basic/OAuth2 authentication, ``sender`` one HTTPS POST, ``backoff`` the retry
timing, ``state`` the durable cursor and batch status, ``worker`` the loop that ties them
together (reference section 5.4). Nothing here imports FastAPI.
"""

from __future__ import annotations
