"""router_svc.routing."""
