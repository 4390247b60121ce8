"""Names shared by the proxy process manager and its plugin, without importing proxy.py."""

NAME_ENV = "LINEFLOW_PROXY_NAME"
PLUGIN = "tests.support.forward_proxy.plugin.NamedForwarded"
