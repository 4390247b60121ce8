"""Names shared by the proxy process manager and its plugin, without importing proxy.py."""

NAME_ENV = "LINEFLOW_PROXY_NAME"
PLUGIN = "lineflow.testing.forward_proxy.plugin.NamedForwarded"
