"""router_svc.backends."""
