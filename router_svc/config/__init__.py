"""router_svc.config."""
