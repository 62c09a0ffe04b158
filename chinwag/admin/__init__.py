"""chinwag-admin: the operator's tool. It speaks to the server's Redis
directly, through the server's own Store (the one place that knows the
storage layout), and tells running nodes of its changes over the node bus,
so it works while servers run."""
