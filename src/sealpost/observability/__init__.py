"""What the server tells its operator: structured logs (``logs``) and Prometheus metrics
(``metrics``). Nothing here decides anything; every other package reports into it."""
