# (filled by the proxy work)
