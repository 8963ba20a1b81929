"""router_svc.api."""
