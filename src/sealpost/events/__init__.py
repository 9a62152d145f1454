"""Events: one record per injection and per delivery attempt outcome, in SparkPost's shape,
each delivery attempt carrying Sealpost's TLS record."""
