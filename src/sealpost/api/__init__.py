"""The SparkPost-compatible HTTPS API (reference/sparkpost-api.md). Never imports smtp,
net or delivery: it reaches the queue only through ``submission`` and the store."""
